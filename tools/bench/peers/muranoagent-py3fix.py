#!/usr/bin/python3
"""Debian's murano-agent 10.0.0, unchanged but for one write.

10.0.0 writes each received execution plan with open(path, 'wb').write(str), which raises
TypeError on Python 3: every plan is acked, then lost. Upstream fixed it in 11.0.0 (commit
277db4f, "Fix write mode for execution plan queue": 'wb' -> 'w'); Debian 12 ships 10.0.0. This
wrapper applies that same change at run time and then runs the installed agent's own main();
the installed package is not modified.
"""
import json
import os
import sys
import time

from muranoagent import execution_plan_queue, util
from muranoagent.cmd.run import main


def put_execution_plan(self, execution_plan, signature, msg_id, reply_to):
    # The installed 10.0.0 method, with the 11.0.0 text-mode write.
    timestamp = str(int(time.time() * 10000))
    folder_path = os.path.join(self._plans_folder, timestamp)
    os.mkdir(folder_path)
    plan_file_path = os.path.join(folder_path, execution_plan_queue.ExecutionPlanQueue.plan_filename)
    json_plan = json.dumps({
        'Data': util.b64encode(execution_plan),
        'Signature': util.b64encode(signature or ''),
        'ID': msg_id,
        'ReplyTo': reply_to
    })
    with open(plan_file_path, 'w') as out_file:
        out_file.write(json_plan)


execution_plan_queue.ExecutionPlanQueue.put_execution_plan = put_execution_plan

if __name__ == "__main__":
    sys.argv[0] = "muranoagent"
    sys.exit(main())
