#!/usr/bin/env python3
"""Checks dossier's exchange exports with validators other people wrote.

    check.py stix FILE...   stix2-validator, strict (warnings are errors); only checks 103
                            (UUIDv4 ids: dossier's ids are UUIDv5, docs/STIX.md §2) and 202
                            (relationship types outside the STIX vocabulary: supersedes,
                            disputes, corroborates, retracts) are disabled
    check.py misp FILE...   pymisp MISPEvent(strict_validation=True) loads every event (one JSON
                            document per line), its tags survive a round trip, and every
                            dossier-claim object fits the template shipped in
                            docs/misp/objects/ (strict MISPObject)
    check.py prov FILE...   the prov package reads the PROV-JSON and serialises it to PROV-N

Prints one line per file checked and exits 1 on the first failure, saying why.
Run with the project's .venv python (scripts/install-py-tools.sh).
"""

import json
import sys
from pathlib import Path


def fail(msg):
    print(f"check.py: {msg}", file=sys.stderr)
    sys.exit(1)


def check_stix(path):
    from stix2validator import ValidationOptions, validate_file, print_results

    options = ValidationOptions(strict=True, disabled=["103", "202"], version="2.1")
    results = validate_file(path, options)
    if not results.is_valid:
        print_results(results)
        fail(f"{path}: stix2-validator --strict refused it")
    print(f"stix ok: {path}")


TEMPLATES = Path(__file__).resolve().parent.parent.parent / "docs" / "misp" / "objects"


def check_misp(path):
    from pymisp import MISPEvent, MISPObject

    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if not lines:
        fail(f"{path}: no MISP event")
    for n, line in enumerate(lines, 1):
        doc = json.loads(line)
        event = MISPEvent(strict_validation=True)
        try:
            # pymisp takes the dict apart as it loads it: give it a copy of its own.
            event.load(json.loads(line))
        except Exception as e:  # noqa: BLE001 - any refusal is a failure, said as it is
            fail(f"{path}:{n}: pymisp refused the event: {e!r}")
        tags = sorted(t.name for t in event.tags)
        want = sorted(t["name"] for t in doc["Event"].get("Tag", []))
        if tags != want:
            fail(f"{path}:{n}: event tags {tags} != {want}")
        again = MISPEvent(strict_validation=True)
        again.load(event.to_json())
        if sorted(t.name for t in again.tags) != want:
            fail(f"{path}:{n}: event tags did not survive a round trip")
        for a_doc, attr in zip(
            [a for a in doc["Event"].get("Attribute", [])], event.attributes
        ):
            want_a = sorted(t["name"] for t in a_doc.get("Tag", []))
            if sorted(t.name for t in attr.tags) != want_a:
                fail(f"{path}:{n}: attribute {attr.value!r} tags differ")
        objs = doc["Event"].get("Object", [])
        if len(objs) != len(event.objects):
            fail(f"{path}:{n}: {len(event.objects)} objects loaded of {len(objs)}")
        for o_doc, obj in zip(objs, event.objects):
            for a_doc, attr in zip(o_doc.get("Attribute", []), obj.attributes):
                want_a = sorted(t["name"] for t in a_doc.get("Tag", []))
                if sorted(t.name for t in attr.tags) != want_a:
                    fail(f"{path}:{n}: object attribute {attr.object_relation} tags differ")
        for obj in event.objects:
            if obj.name != "dossier-claim":
                continue
            # Checked against the template shipped in the repository: required attributes,
            # their types, nothing the template does not define.
            strict = MISPObject(
                "dossier-claim", strict=True, misp_objects_path_custom=str(TEMPLATES)
            )
            if str(strict.template_uuid) != str(obj.template_uuid):
                fail(f"{path}:{n}: object template uuid {obj.template_uuid} is not the shipped one")
            for attr in obj.attributes:
                strict.add_attribute(attr.object_relation, value=attr.value, type=attr.type)
            try:
                strict.to_dict(strict=True)
            except Exception as e:  # noqa: BLE001
                fail(f"{path}:{n}: object {obj.uuid} does not fit the dossier-claim template: {e!r}")
        if not event.info:
            fail(f"{path}:{n}: event without info")
    print(f"misp ok: {path} ({len(lines)} events)")


def check_prov(path):
    import prov.model

    with open(path, encoding="utf-8") as f:
        doc = prov.model.ProvDocument.deserialize(f, format="json")
    provn = doc.get_provn()
    if "document" not in provn or "endDocument" not in provn:
        fail(f"{path}: PROV-N serialisation is not a document")
    records = doc.get_records()
    if not records and not doc.bundles:
        fail(f"{path}: no PROV records")
    # Reading the serialised JSON back gives the same document.
    again = prov.model.ProvDocument.deserialize(content=doc.serialize(format="json"), format="json")
    if again != doc:
        fail(f"{path}: PROV-JSON did not survive a round trip through the prov package")
    print(f"prov ok: {path} ({len(records)} records, {len(list(doc.bundles))} bundles)")
    sys.stdout.write(provn if "--provn" in sys.argv else "")


def main():
    if len(sys.argv) < 3:
        fail("usage: check.py stix|misp|prov FILE...")
    kind, files = sys.argv[1], [a for a in sys.argv[2:] if not a.startswith("--")]
    check = {"stix": check_stix, "misp": check_misp, "prov": check_prov}.get(kind)
    if check is None:
        fail(f"unknown kind {kind!r}")
    for path in files:
        check(path)


if __name__ == "__main__":
    main()
