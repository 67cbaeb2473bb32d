import { Component, onMounted, onWillStart, useRef, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardActionServiceProps } from "@web/webclient/actions/action_service";

const HISTORY_KEY = "asterisk_base.console.history";
const HISTORY_MAX = 100;

/**
 * A terminal-like page for Asterisk CLI commands, run through AMI "Command"
 * by the worker. Output is shown as text (t-esc), never as HTML. Completion
 * (Tab) asks the PBX itself, so it knows every module loaded there.
 */
export class AsteriskConsole extends Component {
    static template = "asterisk_base.Console";
    static props = { ...standardActionServiceProps };

    setup() {
        this.orm = useService("orm");
        this.dialog = useService("dialog");
        this.input = useRef("input");
        this.screen = useRef("screen");
        this.history = JSON.parse(window.localStorage.getItem(HISTORY_KEY) || "[]");
        this.historyIndex = this.history.length;
        this.entryCount = 0;
        this.state = useState({
            servers: [],
            serverId: this.props.action.params?.server_id || false,
            line: "",
            entries: [],
            running: false,
            suggestions: [],
        });
        onWillStart(async () => {
            this.state.servers = await this.orm.searchRead(
                "asterisk_common.server",
                [],
                ["name", "state"],
                { order: "name" }
            );
            if (!this.state.serverId && this.state.servers.length) {
                this.state.serverId = this.state.servers[0].id;
            }
        });
        onMounted(() => this.input.el?.focus());
    }

    get currentServer() {
        return this.state.servers.find((s) => s.id === this.state.serverId);
    }

    onServerChange(ev) {
        this.state.serverId = parseInt(ev.target.value);
        this.input.el.focus();
    }

    async onKeydown(ev) {
        if (ev.key === "Enter") {
            ev.preventDefault();
            await this.run(this.state.line);
        } else if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
            ev.preventDefault();
            this.browseHistory(ev.key === "ArrowUp" ? -1 : 1);
        } else if (ev.key === "Tab") {
            ev.preventDefault();
            await this.complete();
        } else {
            this.state.suggestions = [];
        }
    }

    browseHistory(step) {
        const index = Math.min(Math.max(this.historyIndex + step, 0), this.history.length);
        this.historyIndex = index;
        this.state.line = this.history[index] || "";
    }

    remember(command) {
        this.history = this.history.filter((c) => c !== command);
        this.history.push(command);
        this.history = this.history.slice(-HISTORY_MAX);
        this.historyIndex = this.history.length;
        window.localStorage.setItem(HISTORY_KEY, JSON.stringify(this.history));
    }

    async complete() {
        if (!this.state.serverId) {
            return;
        }
        const line = this.state.line;
        const words = await this.orm.call("asterisk_common.server", "console_complete", [
            [this.state.serverId],
            line,
        ]);
        if (this.state.line !== line) {
            return; // typed on meanwhile
        }
        const head = line.endsWith(" ") ? line : line.replace(/\S*$/, "");
        if (words.length === 1) {
            this.state.line = `${head}${words[0]} `;
            this.state.suggestions = [];
        } else {
            this.state.suggestions = words;
            const common = commonPrefix(words);
            if (common) {
                this.state.line = head + common;
            }
        }
    }

    useSuggestion(word) {
        const line = this.state.line;
        const head = line.endsWith(" ") ? line : line.replace(/\S*$/, "");
        this.state.line = `${head}${word} `;
        this.state.suggestions = [];
        this.input.el.focus();
    }

    async run(line, confirmed = false) {
        const command = line.trim();
        if (!command || this.state.running || !this.state.serverId) {
            return;
        }
        if (command === "clear") {
            this.state.entries = [];
            this.state.line = "";
            return;
        }
        this.state.running = true;
        this.state.suggestions = [];
        let result;
        try {
            result = await this.orm.call("asterisk_common.server", "console_run", [
                [this.state.serverId],
                command,
                confirmed,
            ]);
        } finally {
            this.state.running = false;
        }
        if (result.state === "confirm") {
            this.dialog.add(ConfirmationDialog, {
                title: _t("Run a dangerous command?"),
                body: _t(
                    "“%(command)s” is on the list of commands to confirm (%(entry)s): it may stop the PBX, drop calls or change it while it runs.",
                    { command: result.command, entry: result.confirm }
                ),
                confirmLabel: _t("Run It"),
                confirm: () => this.run(command, true),
                cancel: () => this.input.el?.focus(),
            });
            return;
        }
        this.remember(command);
        this.state.line = "";
        this.state.entries.push({
            id: ++this.entryCount,
            server: this.currentServer?.name || "",
            command: result.command,
            output: result.output,
            error: result.state === "done" ? "" : result.error,
        });
        this.input.el?.focus();
        // Scroll once OWL has rendered the new entry.
        requestAnimationFrame(() => {
            if (this.screen.el) {
                this.screen.el.scrollTop = this.screen.el.scrollHeight;
            }
        });
    }
}

function commonPrefix(words) {
    if (!words.length) {
        return "";
    }
    let prefix = words[0];
    for (const word of words) {
        while (!word.startsWith(prefix)) {
            prefix = prefix.slice(0, -1);
        }
    }
    return prefix;
}

registry.category("actions").add("asterisk_base.console", AsteriskConsole);
