"""Redis bytes per session under a key prefix, from MEMORY USAGE of every key: prints two
rows of the benchmark's table. Usage: redis_bytes.py REDIS_URL PREFIX."""

import subprocess
import sys

url, prefix = sys.argv[1], sys.argv[2]


def cli(*args, stdin=None):
    return subprocess.run(["redis-cli", "-u", url, *args], input=stdin, capture_output=True,
                          text=True, check=True).stdout.split("\n")


keys = [k for k in cli("--scan", "--pattern", f"{prefix}:*") if k]
sizes = cli(stdin="".join(f'MEMORY USAGE "{k}"\n' for k in keys))
usage = {k: int(v) for k, v in zip(keys, sizes)}
sessions = [k for k in keys if k.startswith(f"{prefix}:s:")]
if not sessions:
    sys.exit("no sessions under the prefix")
total = sum(usage.values())
print(f"| Redis bytes per session, every key ({len(sessions)} sessions, their token histories "
      f"and user indexes) | {total // len(sessions)} | < 400 |")
rotated = [usage[k] + usage.get(k.replace(":s:", ":h:", 1), 0) for k in sessions
           if k.replace(":s:", ":h:", 1) in usage]
if rotated:
    print(f"| Redis bytes of a session rotated many times (record and token history), "
          f"largest of {len(rotated)} | {max(rotated)} | < 400 |")
