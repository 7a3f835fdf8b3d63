"""One harness for laying out Rapport's cards as the hosts do: the official `adaptivecards` JS renderer
in headless Chromium with the OFFICIAL host configurations of the Adaptive Cards Designer
(npm adaptivecards-designer: Teams light and dark, Outlook desktop), at a given width.

`render_cards(page, cases)` renders many cards on one page (one page load, many renders, so the
suite stays fast) and returns per case: parse/validation events, the rendered height, action titles
that are cut (ellipsis, overflow or outside the card), text whose contrast on its own background is
under WCAG AA, and the visible text.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RENDERER = ROOT / "node_modules/adaptivecards/dist/adaptivecards.min.js"
HOST_CONFIGS_DIR = ROOT / "node_modules/adaptivecards-designer/lib/hostConfigs"
HOST_CONFIGS = {"teams-light": "microsoft-teams-light.json", "teams-dark": "microsoft-teams-dark.json",
                "outlook": "outlook-desktop.json"}
WIDTHS = (320, 450)


@cache
def host_config(name: str) -> dict[str, Any]:
    return json.loads((HOST_CONFIGS_DIR / HOST_CONFIGS[name]).read_text(encoding="utf-8"))


RENDER_JS = """
([configs, cases]) => {
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => { result.didProcess = false; };
  function rgba(s) {
    const m = s.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(',').map(x => parseFloat(x));
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, bottom) {  // alpha-composite `top` over an opaque `bottom`
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  }
  function lum(c) {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  }
  function ratio(a, b) { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  const root = document.getElementById('root');
  const out = {};
  for (const c of cases) {
    const card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = new AdaptiveCards.HostConfig(configs[c.config]);
    const ctx = new AdaptiveCards.SerializationContext();
    card.parse(c.card, ctx);
    const events = [];
    for (let i = 0; i < ctx.eventCount; i++) events.push(String(ctx.getEventAt(i).message));
    const validation = card.validateProperties();
    for (let i = 0; i < validation.eventCount; i++) events.push(String(validation.getEventAt(i).message));
    root.innerHTML = '';
    root.style.width = c.width + 'px';
    root.style.background = configs[c.config].containerStyles.default.backgroundColor.length === 9
      ? '#' + configs[c.config].containerStyles.default.backgroundColor.slice(3)
      : configs[c.config].containerStyles.default.backgroundColor;
    const el = card.render();
    if (el) root.appendChild(el);
    const box = root.getBoundingClientRect();
    const cut = [];
    for (const b of root.querySelectorAll('button')) {
      const title = b.getAttribute('aria-label') || b.textContent.trim();
      const r = b.getBoundingClientRect();
      if (r.right > box.right + 1 || r.left < box.left - 1) cut.push(title + ' (outside)');
      for (const e of [b, ...b.querySelectorAll('*')]) {
        const s = getComputedStyle(e);
        if ((s.overflowX !== 'visible' || s.textOverflow === 'ellipsis') && e.scrollWidth > e.clientWidth + 1) {
          cut.push(title); break;
        }
      }
    }
    const faint = [];
    for (const e of root.querySelectorAll('*')) {
      const own = Array.from(e.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
      // Buttons are the host's; "*" is the renderer's own required-input marker, coloured by the host.
      if (!own || own === '*' || e.closest('button')) continue;
      const s = getComputedStyle(e);
      const fg = over(rgba(s.color), background(e));
      const r = ratio(fg, background(e));
      const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 600;
      const needed = (size >= 24 || (size >= 18.6 && bold)) ? 3 : 4.5;
      if (r < needed) faint.push(own.slice(0, 50) + ' (' + r.toFixed(2) + ':1)');
    }
    out[c.name] = { events, height: Math.round(root.getBoundingClientRect().height), cut, faint,
                    buttons: Array.from(root.querySelectorAll('button')).map(b => b.getAttribute('aria-label') || b.textContent.trim()),
                    text: root.innerText };
  }
  return out;
}
"""


async def open_renderer(page) -> None:
    await page.set_viewport_size({"width": 520, "height": 900})
    await page.set_content("<!doctype html><html><head><meta charset='utf-8'></head>"
                           "<body style='margin:0'><div id='root'></div></body></html>")
    await page.add_script_tag(path=str(RENDERER))


async def render_cards(page, cases: list[tuple[str, dict[str, Any], str, int]]) -> dict[str, dict[str, Any]]:
    """cases: (name, card, host config name, width). The page must have had `open_renderer`."""
    configs = {name: host_config(name) for name in {c[2] for c in cases}}
    payload = [{"name": n, "card": card, "config": cfg, "width": w} for n, card, cfg, w in cases]
    return await page.evaluate(RENDER_JS, [configs, payload])
