"""The web console: server-rendered pages (Jinja2) made lively with HTMX, charts with ECharts.

Pages call the contexts' services inside read-only units of work; they never touch tables. The
console speaks Simplified Chinese by default and English on request (`i18n.py`, cookie
`yipan_lang`). Every page but the login form needs auth's session cookie (`user.console_user`);
who is looking comes from `user.current_user`.

Vendored front-end libraries, served from `static/vendor/` so the console works offline (no CDN),
taken unmodified from the npm registry's packages (`npm pack`), each with its licence beside it:

- htmx 2.0.11 (`htmx.org@2.0.11`, `dist/htmx.min.js`; Zero-Clause BSD, `htmx.LICENSE`)
- Apache ECharts 5.6.0 (`echarts@5.6.0`, `dist/echarts.min.js`; Apache-2.0, `echarts.LICENSE`
  and `echarts.NOTICE`)
"""

from __future__ import annotations

from yipan.console.rendering import STATIC_DIR, STATIC_PREFIX
from yipan.console.routes import router

__all__ = ["STATIC_DIR", "STATIC_PREFIX", "router"]
