"""Writes ModelZoo/data/regex_cases.json: patterns in the RE2 subset Touchstone's `Regex` reads,
texts, and whether each text matches as a whole, decided by Python's `re.fullmatch` with
`re.ASCII` (RE2's \\d \\w \\s \\b are ASCII; no text holds a newline, where the two differ).

    python3 ModelZoo/scripts/make_regex_cases.py
"""
import json
import os
import random
import re

PATTERNS = [
    r"abc", r"a.c", r"a*", r"a+b", r"ab?c", r"(ab)*", r"(ab)+c", r"a|b|c", r"(a|bc)*d",
    r"[abc]+", r"[^abc]+", r"[a-f0-9]{2,4}", r"x{3}", r"x{2,}", r"(x|y){0,3}z",
    r"\d+", r"\D*", r"\w+", r"\W+", r"\s*\w+\s*", r"\S+",
    r"www\.[\w.-]+\.\bcom\b", r"(\W|^)[\w.\-]{0,25}@(yahoo|gmail)\.com(\W|$)",
    r"\bab\b.*", r"a\Bb", r"^abc$", r"(?:a|b)+", r"[\d\-]+", r"[-a]+", r"[a-]+", r"[]a]+",
    r"((a|b)*c)+", r"a*?b", r"a+?", r"[.]", r"\.\*", r"é+ü?",
    r"\(\d{3}\) \d{3}-\d{4}", r"[A-Z][a-z]+( [A-Z][a-z]+)*",
]
ALPHABET = "abcxyz019 .-_@()éü"
TEXTS = [
    "", "abc", "ac", "aac", "abbc", "ababc", "abab", "abcd", "d", "bcbcd", "xxx", "xxxx", "xyz", "zz",
    "123", "12a", "a_b9", "  word  ", "!!", "ab", "a b", "www.google.com", "www.bbc.co.uk",
    "account@gmail.com", "not email", "account2@yahoo.com", "x@yahoo.com!", "ff00", "fff0f",
    "-a-", "]a]", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaac", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ".", ".*", "éü", "éééü",
    "(555) 123-4567", "New York", "New york", "a" * 200 + "b",
]


def main():
    rng = random.Random(0)
    texts = TEXTS + ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12))) for _ in range(40)]
    cases = []
    for p in PATTERNS:
        compiled = re.compile(p, re.ASCII)
        for t in texts:
            cases.append({"pattern": p, "text": t, "match": compiled.fullmatch(t) is not None})
    out = os.path.join(os.path.dirname(__file__), "..", "data", "regex_cases.json")
    with open(out, "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(cases)} cases, {sum(c['match'] for c in cases)} matching, to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
