"""Wheels of every non-torch dependency of visgen (the library and its `experiments` extra) for a stated Python and
platform, into one folder, for a GPU node without internet: `make wheelhouse PYVER=3.12 PLATFORM=manylinux_2_28_x86_64`.

The dependencies are resolved against the node's torch (`--torch`, e.g. torch==2.11.0 torchvision==0.26.0) from package
metadata only; torch, torchvision and their CUDA stack (triton, nvidia-*, cuda-*) are left out: the node has them.
The folder also gets `requirements.txt` (the top-level requirements) for `pip install --no-index --find-links DIR -r`."""
import argparse, configparser, json, re, subprocess, sys, tempfile, time, zipfile
from pathlib import Path

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
    with tempfile.TemporaryDirectory() as d:   # resolve against stand-ins for the node's torch (nothing of it is downloaded)
        node = dict(r.split('==') for r in a.torch.split())
        stub_wheel(Path(d), 'torch', node['torch'] + '+node')
        stub_wheel(Path(d), 'torchvision', node['torchvision'] + '+node', [f"torch=={node['torch']}"])
        subprocess.run(pip + ['install', '-q', '--dry-run', '--ignore-installed', '--target', f'{d}/t', '--report', f'{d}/r.json',
                              '--find-links', d, *target, f"torch=={node['torch']}+node", f"torchvision=={node['torchvision']}+node",
                              *reqs], check=True)
        pins = sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in json.loads(Path(f'{d}/r.json').read_text())['install']
                      if not NODE_HAS.match(i['metadata']['name'].lower()))
    (out / 'requirements.txt').write_text('\n'.join(reqs) + '\n')
    subprocess.run(pip + ['download', '-q', '--no-deps', *target, '-d', str(out), *pins], check=True)
    wheels = sorted(out.glob('*.whl'))
    mb = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"{out}: {len(wheels)} wheels, {mb:.1f} MiB, for Python {a.python_version} on {a.platform} "
          f"({time.time() - t0:.0f} s); install on the node with\n"
          f"  python -m pip install --no-index --find-links {out} -r {out}/requirements.txt")

if __name__ == '__main__': main()
