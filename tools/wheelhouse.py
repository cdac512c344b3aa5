"""Wheels of every non-torch dependency of visgen (the library and its `experiments` extra) for a stated Python and
platform, into one folder, for a GPU node without internet: `make wheelhouse PYVER=3.12 PLATFORM=manylinux_2_28_x86_64`.

The dependencies are resolved against the node's torch (`--torch`, e.g. torch==2.11.0 torchvision==0.26.0) from package
metadata only; torch, torchvision and their CUDA stack (triton, nvidia-*, cuda-*) are left out: the node has them.
The folder also gets `requirements.txt` (the top-level requirements) for `pip install --no-index --find-links DIR -r`.

pip evaluates environment markers against the Python that runs it, not `--python-version` (papermill needs aiohttp on
Python 3.12 only: resolved under 3.11 it was left out, and the node's offline install failed). So the folder's closure is
then walked with the target's markers and whatever is missing is resolved and downloaded too, until nothing is."""
import argparse, configparser, json, re, subprocess, sys, tempfile, time, zipfile
from pathlib import Path
try: from packaging.requirements import Requirement
except ImportError: from pip._vendor.packaging.requirements import Requirement

NODE_HAS = re.compile(r'^(torch|torchvision|triton|nvidia-.*|cuda-.*)$')   # the image's torch and its CUDA stack

def requirements(settings:Path, extras=('experiments',)) -> list:
    "visgen's requirements (and those of `extras`) from settings.ini, without torch and torchvision."
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(settings)
    reqs = cfg['DEFAULT']['requirements'].split() + [r for e in extras for r in cfg['DEFAULT'][f'{e}_requirements'].split()]
    return [r for r in reqs if not NODE_HAS.match(re.split(r'[<>=!~\[; ]', r)[0].lower())]

def platforms(platform:str) -> list:
    "`manylinux_2_X_arch` and every older manylinux tag a system of that glibc runs (what pip accepts there)."
    m = re.fullmatch(r'manylinux_2_(\d+)_(\w+)', platform)
    if not m: return [platform]
    x, arch = int(m[1]), m[2]
    legacy = [f'manylinux{n}_{arch}' for n, glibc in (('2014', 17), ('2010', 12), ('1', 5)) if glibc <= x]
    return [f'manylinux_2_{y}_{arch}' for y in range(x, 4, -1)] + legacy

def stub_wheel(d:Path, name:str, version:str, requires=()) -> Path:
    "A metadata-only wheel standing for what the node has installed, so the resolver neither downloads nor replaces it."
    w, info = d / f'{name}-{version}-py3-none-any.whl', f'{name}-{version}.dist-info'
    with zipfile.ZipFile(w, 'w') as z:
        z.writestr(f'{info}/METADATA', f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n' +
                   ''.join(f'Requires-Dist: {r}\n' for r in requires))
        z.writestr(f'{info}/WHEEL', 'Wheel-Version: 1.0\nGenerator: visgen\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
        z.writestr(f'{info}/RECORD', '')
    return w

def canon(name:str) -> str: return re.sub(r'[-_.]+', '-', name).lower()

def target_env(python_version:str, platform:str) -> dict:
    "Marker environment of a CPython `python_version` on `platform` (a manylinux/linux tag), for evaluating Requires-Dist."
    machine = re.sub(r'^(manylinux_\d+_\d+|manylinux\d+|linux)_', '', platform)
    return dict(python_version=python_version, python_full_version=f'{python_version}.0', implementation_name='cpython',
                implementation_version=f'{python_version}.0', platform_python_implementation='CPython',
                sys_platform='linux', platform_system='Linux', os_name='posix', platform_machine=machine,
                platform_release='', platform_version='', extra='')

def wheel_requires(w:Path) -> list:
    "The Requires-Dist lines of wheel `w`."
    with zipfile.ZipFile(w) as z:
        meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
        return [l.split(':', 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith('Requires-Dist:')]

def missing(folder:Path, reqs:list, env:dict) -> list:
    "Requirements reached from `reqs` through the wheels in `folder`, under the markers of `env`, that no wheel there meets by name."
    have = {canon(w.name.split('-')[0]): w for w in folder.glob('*.whl')}
    todo, seen, out = [Requirement(r) for r in reqs], set(), {}
    while todo:
        r = todo.pop(); n = canon(r.name)
        if NODE_HAS.match(n): continue
        if n not in have:
            out.setdefault(n, f"{r.name}{''.join(f'[{e}]' for e in sorted(r.extras))}{r.specifier}"); continue
        for extra in ['', *sorted(r.extras)]:
            if (n, extra) in seen: continue
            seen.add((n, extra))
            todo += [d for d in map(Requirement, wheel_requires(have[n])) if d.marker is None or d.marker.evaluate({**env, 'extra': extra})]
    return sorted(out.values())

def resolve(pip:list, target:list, torch:str, reqs:list) -> list:
    "Pins (name==version) of everything `reqs` need next to the node's `torch`, without the node's packages."
    with tempfile.TemporaryDirectory() as d:   # resolve against stand-ins for the node's torch (nothing of it is downloaded)
        node = dict(r.split('==') for r in torch.split())
        stub_wheel(Path(d), 'torch', node['torch'] + '+node')
        stub_wheel(Path(d), 'torchvision', node['torchvision'] + '+node', [f"torch=={node['torch']}"])
        subprocess.run(pip + ['install', '-q', '--dry-run', '--ignore-installed', '--target', f'{d}/t', '--report', f'{d}/r.json',
                              '--find-links', d, *target, f"torch=={node['torch']}+node", f"torchvision=={node['torchvision']}+node",
                              *reqs], check=True)
        return sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in json.loads(Path(f'{d}/r.json').read_text())['install']
                      if not NODE_HAS.match(i['metadata']['name'].lower()))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='wheelhouse'); ap.add_argument('--python-version', default='3.12')
    ap.add_argument('--platform', default='manylinux_2_28_x86_64')
    ap.add_argument('--torch', default='torch==2.11.0 torchvision==0.26.0', help="the node's torch, to resolve against")
    a = ap.parse_args()
    t0, out = time.time(), Path(a.out); out.mkdir(parents=True, exist_ok=True)
    reqs = requirements(Path(__file__).resolve().parents[1] / 'settings.ini')
    target = ['--only-binary=:all:', '--python-version', a.python_version, *[f'--platform={p}' for p in platforms(a.platform)]]
    pip = [sys.executable, '-m', 'pip']
    env, extra = target_env(a.python_version, a.platform), []
    for _ in range(5):   # each round: resolve (markers of this Python), download, walk the closure (markers of the target)
        subprocess.run(pip + ['download', '-q', '--no-deps', *target, '-d', str(out), *resolve(pip, target, a.torch, reqs + extra)],
                       check=True)
        if not (more := missing(out, reqs, env)): break
        print(f"for Python {a.python_version} also: {' '.join(more)}"); extra += more
    else: sys.exit(f"{out}: still missing for Python {a.python_version}: {' '.join(more)}")
    (out / 'requirements.txt').write_text('\n'.join(reqs) + '\n')
    wheels = sorted(out.glob('*.whl'))
    mb = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"{out}: {len(wheels)} wheels, {mb:.1f} MiB, for Python {a.python_version} on {a.platform} "
          f"({time.time() - t0:.0f} s); install on the node with\n"
          f"  python -m pip install --no-index --find-links {out} -r {out}/requirements.txt")

if __name__ == '__main__': main()
