import threading
import time

from odoo import fields, models

from odoo.addons.asterisk_common.tools import ami_handler


class WorkerTestRecord(models.Model):
    """One row per handled event, to check what the worker called and in which order."""

    _name = "asterisk_worker_test.record"
    _description = "Handled AMI event (worker tests)"
    _order = "id"
    _log_access = False

    name = fields.Char(index=True)
    handler = fields.Char()
    linkedid = fields.Char(index=True)
    seq = fields.Integer()
    payload = fields.Json()
    handled_at = fields.Float()

    def _store(self, handler, event):
        self.create(
            {
                "name": event.get("Event"),
                "handler": handler,
                "linkedid": event.get("Linkedid"),
                "seq": int(event.get("Seq") or 0),
                "payload": event,
                "handled_at": time.time(),
            }
        )

    @ami_handler
    def ami_record(self, event):
        self._store("ami_record", event)

    @ami_handler
    def ami_record_other(self, event):
        self._store("ami_record_other", event)

    @ami_handler
    def ami_record_thread(self, event):
        """Which dispatch shard (thread) handled the event, in ``handler``."""
        self._store(threading.current_thread().name, event)

    @ami_handler(batch=True)
    def ami_batch(self, events):
        """A batch handler: one create for the whole batch, whose size it notes."""
        self._store_batch("batch", events)

    @ami_handler(batch=True, independent=True)
    def ami_gather(self, events):
        """An independent batch handler: gathered across other independent ones."""
        self._store_batch("gather", events)

    @ami_handler(batch=True, independent=True)
    def ami_gather_other(self, events):
        self._store_batch("gather_other", events)

    def _store_batch(self, label, events):
        for event in events:
            if event.get("Fail"):
                raise ValueError(f"{label} failure on purpose (seq {event.get('Seq')})")
            time.sleep(float(event.get("Sleep") or 0))
        self.create(
            [
                {
                    "name": e.get("Event"),
                    "handler": f"{label}:{len(events)}",
                    "linkedid": e.get("Linkedid"),
                    "seq": int(e.get("Seq") or 0),
                    "payload": e,
                    "handled_at": time.time(),
                }
                for e in events
            ]
        )

    @ami_handler
    def ami_noop(self, event):
        """The trivial handler of the benchmark: the cost of dispatch alone."""

    @ami_handler
    def ami_increment(self, event):
        """Read-modify-write of one shared row: concurrent shards collide on it."""
        counter = self.search([("name", "=", "counter")], limit=1)
        value = counter.seq
        time.sleep(0.02)
        counter.seq = value + 1

    @ami_handler
    def ami_fail(self, event):
        self._store("ami_fail", event)  # rolled back with the savepoint
        raise ValueError(f"handler failure on purpose (seq {event.get('Seq')})")

    @ami_handler
    def ami_slow(self, event):
        time.sleep(float(event.get("Sleep") or 0.2))
        self._store("ami_slow", event)

    def not_a_handler(self, event):
        self._store("not_a_handler", event)
