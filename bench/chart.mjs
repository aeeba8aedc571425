// The report's chart: an SVG drawn here, screenshotted with headless Chromium (playwright-core)
// into target/bench/report.png. Each panel puts a measured figure beside its target.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { OUT, round } from './lib/common.mjs';
import { launch } from './lib/browser.mjs';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * One horizontal bar panel. `bars`: [{ label, value, color?, note? }]; `target`: a value drawn
 * as a dashed line with `targetLabel`; `unit` appended to values.
 */
function panel(title, bars, { target, targetLabel, unit, better = 'lower', width = 560 } = {}) {
  const rowH = 30;
  const left = 190;
  const right = 90;
  const top = 34;
  const h = top + bars.length * rowH + 30;
  const max = Math.max(...bars.map((b) => b.value), target ?? 0) * 1.08 || 1;
  const x = (v) => left + (v / max) * (width - left - right);
  const parts = [`<g><text x="0" y="18" class="t">${esc(title)}</text>`];
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const ok = target === undefined ? true : better === 'lower' ? b.value < target : b.value >= target;
    const color = b.color ?? (ok ? '#2f7d32' : '#c62828');
    parts.push(`<text x="${left - 8}" y="${y + 17}" class="l" text-anchor="end">${esc(b.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(b.value) - left)}" height="${rowH - 10}" fill="${color}" rx="2"/>`);
    parts.push(`<text x="${x(b.value) + 6}" y="${y + 17}" class="v">${esc(`${round(b.value, b.value < 10 ? 2 : 1).toLocaleString('en')} ${unit}`)}</text>`);
  });
  if (target !== undefined) {
    const tx = x(target);
    parts.push(`<line x1="${tx}" x2="${tx}" y1="${top - 4}" y2="${top + bars.length * rowH}" stroke="#333" stroke-dasharray="5 3"/>`);
    parts.push(`<text x="${tx}" y="${top + bars.length * rowH + 16}" class="g" text-anchor="middle">${esc(targetLabel ?? `target ${target} ${unit}`)}</text>`);
  }
  parts.push('</g>');
  return { svg: parts.join(''), height: h, width };
}

export async function renderChart(r) {
  const panels = [];
  if (r.bundle) {
    const b = r.bundle;
    panels.push(
      panel(
        'Download size, brotli -q 11 (KiB)',
        [
          { label: 'Token Manager (whole panel)', value: b.ours.total.brotli / 1024 },
          ...b.others.map((o) => ({ label: `${o.package} (no UI)`, value: o.brotli / 1024, color: '#78909c' })),
        ],
        { target: 100, targetLabel: 'target < 100 KiB', unit: 'KiB' },
      ),
    );
  }
  if (r.render) {
    const bars = [
      { label: 'first render, warm, above floor', value: r.render.above_floor_warm_ms },
      { label: 'first render, cold, above floor', value: r.render.above_floor_cold_ms, color: '#78909c' },
    ];
    panels.push(panel('Time to first useful render (ms)', bars, { target: 60, targetLabel: 'target < 60 ms warm', unit: 'ms' }));
    if (r.render.page_change) {
      panels.push(
        panel('Page change, 100 rows (ms)', [{ label: 'click → rows replaced', value: r.render.page_change.median_ms }], {
          target: 16,
          targetLabel: 'one frame (16 ms)',
          unit: 'ms',
        }),
      );
    }
  }
  if (r.hostRead) {
    const bars = [{ label: 'GET /tokens (reads)', value: r.hostRead.throughput.rps }];
    if (r.hostRead.before_rps) bars.push({ label: 'GET /tokens before fixes', value: r.hostRead.before_rps, color: '#78909c' });
    if (r.hostReadPg) bars.push({ label: 'GET /tokens on PostgreSQL', value: r.hostReadPg.throughput.rps });
    panels.push(panel('Host reads, requests/s (higher is better)', bars, { target: 5000, targetLabel: 'target ≥ 5,000/s', unit: '/s', better: 'higher' }));
  }
  if (r.exchange) {
    panels.push(
      panel('Exchanges end to end, per second (higher is better)', [{ label: 'POST /exchange', value: r.exchange.rps }, ...(r.exchangePg ? [{ label: 'POST /exchange on PostgreSQL', value: r.exchangePg.rps }] : [])], {
        target: 1000,
        targetLabel: 'target ≥ 1,000/s',
        unit: '/s',
        better: 'higher',
      }),
    );
  }
  const rss = [
    ['after reads', r.hostRead?.memory?.peak_rss_mib],
    ['after exchanges', r.exchange?.memory?.peak_rss_mib],
    ['refresher run', r.refresher?.memory?.peak_rss_mib],
    ...(r.scale?.configs ?? []).map((c) => [`refresher at scale, ${c.config}, ${r.scale.setup.companies.toLocaleString('en')} (worst instance)`, Math.max(...c.peak_rss_mib)]),
  ].filter(([, v]) => v !== undefined);
  if (rss.length) {
    panels.push(panel('Host peak RSS (MiB)', rss.map(([label, value]) => ({ label, value })), { target: 60, targetLabel: 'target < 60 MB', unit: 'MiB' }));
  }
  if (r.history) {
    const pick = r.history.benches.filter((b) => b.chart);
    if (pick.length) {
      panels.push(panel('Core history, 100k records (µs, criterion median)', pick.map((b) => ({ label: b.short, value: b.median_ns / 1000, color: '#1565c0' })), { unit: 'µs' }));
    }
  }
  let y = 10;
  const body = panels
    .map((p) => {
      const g = `<g transform="translate(20 ${y})">${p.svg}</g>`;
      y += p.height + 14;
      return g;
    })
    .join('\n');
  const width = 600;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">
<style>text{font-family:DejaVu Sans,Arial,sans-serif}.t{font-size:14px;font-weight:bold}.l{font-size:12px}.v{font-size:12px}.g{font-size:11px;fill:#333}</style>
<rect width="100%" height="100%" fill="#fff"/>${body}</svg>`;
  writeFileSync(join(OUT, 'report.svg'), svg);
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width, height: y }, deviceScaleFactor: 2 });
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    await page.screenshot({ path: join(OUT, 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(`==> ${join(OUT, 'report.png')}`);
}
