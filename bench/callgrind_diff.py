#!/usr/bin/env python3
"""Instructions per operation, function by function: the difference of two callgrind profiles of
the same server that did N and 2N operations (bench/callgrind.sh keeps both), divided by N.

    python3 bench/callgrind_diff.py SMALL.out LARGE.out N [--inclusive] [--top 30]
"""
import re
import subprocess
import sys


def costs(path, inclusive):
    args = ["callgrind_annotate", "--threshold=100"]
    if inclusive:
        args.append("--inclusive=yes")
    out = subprocess.run(args + [path], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*?)(?: \[.*\])?$", line)
        if m and "PROGRAM TOTALS" not in line:
            name = re.sub(r"^\S*?:", "", m.group(2), count=1) if ":" in m.group(2) else m.group(2)
            table[name] = table.get(name, 0) + int(m.group(1).replace(",", ""))
    return table


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    inclusive = "--inclusive" in sys.argv
    top = 30
    if "--top" in sys.argv:
        top = int(sys.argv[sys.argv.index("--top") + 1])
        args = [a for a in args if a != str(top)]
    small, large, n = args[0], args[1], int(args[2])
    a, b = costs(small, inclusive), costs(large, inclusive)
    diff = sorted(((b.get(k, 0) - a.get(k, 0)) / n, k) for k in set(a) | set(b))
    diff.reverse()
    for per_op, name in diff[:top]:
        print(f"{per_op:10.0f}  {name[:150]}")


if __name__ == "__main__":
    main()
