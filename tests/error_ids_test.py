#!/usr/bin/env python3
"""Every error id the sources raise is in the README's list of ids (section "Exit codes").

An id is the first argument of fail_usage/fail_input/fail_model/fail_remote or of
Error(ErrorKind::..., "id"), as a string literal, and the ids made from an area
(area + ".parse", ".read", ".empty", ".too_large", ".write") for the areas the sources pass
as string literals to read_text_file/read_json_file/parse_json_text/parse_ordered_json_text/
parse_json_with_nonfinite/parse_payload/write_text_file. The README lists ids as backticked
words, with {a,b} alternatives and a trailing .* for a whole family.

Usage: error_ids_test.py REPO_ROOT   (exit 0 when complete, 1 listing what is missing)
"""
import pathlib
import re
import sys

CALL = re.compile(
    r'\b(?:fail_usage|fail_input|fail_model|fail_remote)\(\s*"([a-z][a-z0-9_.]*)"'
    r'|\bError\(\s*ErrorKind::k[A-Za-z]+\s*,\s*"([a-z][a-z0-9_.]*)"')
AREA_CALL = re.compile(
    r'\b(read_text_file|read_json_file|parse_json_text|parse_ordered_json_text|'
    r'parse_json_with_nonfinite|parse_payload|write_text_file)\(([^;]*?)\)\s*[;,)]', re.S)
AREA_SUFFIXES = {
    "read_text_file": [".read", ".empty", ".too_large"],
    "read_json_file": [".read", ".empty", ".too_large", ".parse"],
    "parse_json_text": [".parse"],
    "parse_ordered_json_text": [".parse"],
    "parse_json_with_nonfinite": [".parse"],
    "parse_payload": [".parse"],
    "write_text_file": [".write"],
}


def ids_in_sources(root):
    ids = {}
    for folder in ("harness", "adapters"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in (".cpp", ".h"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in CALL.finditer(text):
                ids.setdefault(match.group(1) or match.group(2), path.relative_to(root))
            for match in AREA_CALL.finditer(text):
                # The area is the last string literal argument ("config", "capture.payload").
                literals = re.findall(r'"([a-z][a-z0-9_.]*)"', match.group(2))
                if not literals:
                    continue
                for suffix in AREA_SUFFIXES[match.group(1)]:
                    ids.setdefault(literals[-1] + suffix, path.relative_to(root))
    return ids


def expand(word):
    match = re.search(r"\{([^{}]*)\}", word)
    if not match:
        return [word]
    out = []
    for choice in match.group(1).split(","):
        out += expand(word[: match.start()] + choice.strip() + word[match.end():])
    return out


def documented(root):
    readme = (root / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Exit codes")
    end = readme.index("\n## ", start)
    exact, families = set(), []
    for word in re.findall(r"`([a-z][a-z0-9_.{},* ]*)`", readme[start:end]):
        for item in expand(word.replace(" ", "")):
            if item.endswith(".*"):
                families.append(item[:-1])  # "tensor."
            else:
                exact.add(item)
    return exact, families


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    ids = ids_in_sources(root)
    exact, families = documented(root)
    missing = sorted(i for i in ids if i not in exact and not any(i.startswith(f) for f in families))
    if len(ids) < 50:
        print(f"only {len(ids)} ids found in the sources: the extraction is broken")
        return 1
    for item in missing:
        print(f"{item} (raised in {ids[item]}) is not in README.md's list of error ids")
    print(f"{len(ids)} ids raised, {len(missing)} missing from the README")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
