-- Run by tools/demo at each start (psql -v port=... -v folder=...): the demo server
-- follows AMI_PORT (the worker reads it when Odoo starts) and reads its recordings
-- from this checkout's var/recordings, where the simulated PBX writes them.
UPDATE asterisk_common_server
   SET port = :'port'::int, active = true,
       recording_source = 'folder', recording_folder = :'folder'
 WHERE id = (SELECT res_id FROM ir_model_data
              WHERE module = 'asterisk_common' AND name = 'demo_server');
