"""Installs visgen from `settings.ini` (nbdev 2 layout) with today's setuptools (no `pkg_resources`).

The distribution is `lib_name` (`visgen-harness`: the name `visgen` on PyPI is another project's); the
package it installs, and so the import, is `lib_path` (`visgen`). `pyproject.toml` names setuptools as
the build backend, so `pip install .`, `pip install -e .` and `pip wheel .` all run this file.

The experiment templates (`experiments/*.ipynb`, the papermill notebooks) ship in the wheel as
`visgen/templates/`, so `visgen main` and `visgen experiment` work outside a clone; an editable
install finds them in `experiments/` beside the package instead. They are copied at build time only:
`visgen/` in the repository stays exactly what `nbdev_export` writes.
"""
from configparser import ConfigParser
from pathlib import Path
import shutil
import setuptools
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
cfg = ConfigParser(delimiters=['='])
cfg.read(HERE / 'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

licenses = {'apache2': 'Apache-2.0'}  # SPDX expressions (PEP 639)
# 0.1.0 works end to end but its API and file formats may still change: Alpha, not Beta.
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable']
pkg = Path(cfg['lib_path']).name   # the import package, `visgen`
req = lambda key: cfg.get(key, '').split()
requirements, experiments, site = req('requirements'), req('experiments_requirements'), req('site_requirements')
scripts = [s.strip() for s in cfg.get('console_scripts', '').split('\n') if s.strip()]


class BuildWithTemplates(build_py):
    "build_py, plus `experiments/*.ipynb` (top level only: not the executed results) copied into `visgen/templates/`."
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False): return  # an editable install reads experiments/ in place
        dest = Path(self.build_lib) / pkg / 'templates'
        dest.mkdir(parents=True, exist_ok=True)
        for t in sorted((HERE / 'experiments').glob('*.ipynb')): shutil.copy(t, dest / t.name)


setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    license_expression=licenses[cfg['license']],
    url=cfg['git_url'],
    keywords=cfg['keywords'].split(),
    classifiers=[
        'Development Status :: ' + next(s for s in statuses if s.startswith(cfg['status'] + ' ')),
        'Intended Audience :: ' + cfg['audience'],
        'Natural Language :: ' + cfg['language'],
        'Programming Language :: Python :: 3',
    ],
    packages=setuptools.find_packages(include=[pkg, f'{pkg}.*']),
    include_package_data=True,
    python_requires='>=' + cfg['min_python'],
    install_requires=requirements,
    extras_require={'experiments': experiments, 'site': site,
                    'dev': sorted(set(experiments + site + req('dev_requirements')))},
    entry_points={'console_scripts': scripts, 'nbdev': [f"{pkg}={pkg}._modidx:d"]},
    cmdclass={'build_py': BuildWithTemplates},
    zip_safe=False,
)
