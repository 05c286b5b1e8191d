# Records pyhumps 3.8.0's answers on adversarial keys for chanx's camelize tests:
#   python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pyhumps==3.8.0
#   /tmp/venv/bin/python chanx-rs/tests/data/pyhumps_adversarial_cases.py
# Short random keys over separators, cases, digits and the Unicode characters where Python and
# Rust disagree most easily (titlecase letters, information separators, non-ASCII digits), and
# 1,500-character runs of separators, capitals and digits.
import json, random, humps
random.seed(14)
alphabet = list("_-aAzZ09 ") + ["ß", "İ", "ǅ", "ᾈ", "\x1c", "\x1f", "٣", "３", "Ⅻ", "ª", "Σ", "é", "É", "\t", "\u00a0", "²", "ǆ", "Ǆ"]
cases = []
seen = set()
def add(key):
    if key in seen: return
    seen.add(key)
    cases.append({"key": key, "camelize": humps.camelize(key), "decamelize": humps.decamelize(key)})
for ch in alphabet:
    for other in ["a", "A", "_", "aA", "a_", "_a", "AB", "a_b"]:
        add(ch + other); add(other + ch); add("x" + ch + other + "Y")
while len(cases) < 500:
    n = random.randint(1, 24)
    add("".join(random.choice(alphabet) for _ in range(n)))
# medium-length adversarial keys (pyhumps itself is quadratic on some of these)
n = 1500
for key in ["_" * n, "a" + "_" * n + "b", "a" + "_" * n, "_A" * n + "x", "A" * n + "b", "a" + "A" * n,
            "1" * n + "a", "a" + "1" * n + "B", "-_" * n + "x", "x" + "-_" * n + "y", "x_-" * n,
            "aB" * n, "a_" * n, "A_" * n + "b", "_" * n + "A", "٣" * n + "aB", "a" + "_" * n + "ß"]:
    add(key)
json.dump(cases, open("chanx-rs/tests/data/pyhumps_adversarial_cases.json", "w"), ensure_ascii=False, indent=0)
print(len(cases))
