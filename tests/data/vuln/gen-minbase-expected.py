#!/usr/bin/python3
# Writes debian12-minbase-vulnerable-expected.tsv: for every distinct (source, version) of
# debian12-minbase-vulnerable-version-examples.tsv, the CVEs of debian12-minbase-changelog-cves.tsv
# for that source whose first fixed version is greater than that version in dpkg order, using
# python3-apt's apt_pkg.version_compare (an oracle independent of lib/version.c).
# Run with Debian's /usr/bin/python3 (python3-apt) from this directory.
import apt_pkg, csv, collections
apt_pkg.init()
fixed = collections.defaultdict(list)
with open("debian12-minbase-changelog-cves.tsv") as f:
    r = csv.reader(f, delimiter="\t"); next(r)
    for src, cve, fv, _d, _t in r:
        fixed[src].append((cve, fv))
pairs = set()
with open("debian12-minbase-vulnerable-version-examples.tsv") as f:
    r = csv.reader(f, delimiter="\t"); next(r)
    for src, cve, fv, prev in r:
        pairs.add((src, prev))
with open("debian12-minbase-vulnerable-expected.tsv", "w") as out:
    out.write("source_package\tversion\texpected_cves (dpkg: version < first_fixed_version)\n")
    for src, v in sorted(pairs):
        cves = sorted({c for c, fv in fixed[src] if apt_pkg.version_compare(v, fv) < 0})
        out.write(f"{src}\t{v}\t{','.join(cves)}\n")
