"""Caps a minimised cargo-fuzz corpus at N files: keeps the inputs that add the most coverage
features first (greedy set cover over libFuzzer's merge control file), deletes the rest.

Usage: python3 cap_corpus.py <fuzz target binary> <corpus dir> <N>
"""
import os, shutil, subprocess, sys, tempfile
binary, corpus, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(os.listdir(corpus))
if len(files) <= cap:
    print(f"{corpus}: {len(files)} files, under the cap"); sys.exit(0)
tmp = tempfile.mkdtemp(); empty = os.path.join(tmp, 'e'); os.mkdir(empty)
ctl = os.path.join(tmp, 'ctl')
subprocess.run([binary, '-merge=1', '-use_counters=0', '-timeout=5', f'-merge_control_file={ctl}', empty, corpus],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
lines = open(ctl).read().splitlines()
n = int(lines[0]); paths = lines[2:2+n]
cov = {}
for l in lines[2+n:]:
    p = l.split()
    if p[0] == 'COV': cov[int(p[1])] = set(p[2:])
    if p[0] == 'FT': cov.setdefault(int(p[1]), set()).update('f'+x for x in p[2:])
total = set().union(*cov.values())
keep, got = [], set()
while len(keep) < cap:
    best = max(cov, key=lambda i: len(cov[i] - got), default=None)
    if best is None or not (cov[best] - got): break
    keep.append(best); got |= cov.pop(best)
keepp = {os.path.basename(paths[i]) for i in keep}
for f in files:
    if f not in keepp: os.remove(os.path.join(corpus, f))
print(f"{corpus}: kept {len(keepp)} of {len(files)} files, {len(got)} of {len(total)} features ({100*len(got)/len(total):.1f}%)")
shutil.rmtree(tmp)
