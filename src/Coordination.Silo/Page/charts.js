'use strict';
// Small live charts drawn as inline SVG (the page loads nothing from elsewhere): the last two minutes of a series.

const ChartSamples = 80;

class Sparkline {
  constructor(id, format) {
    this.svg = document.getElementById(id);
    this.label = document.getElementById(id + '-value');
    this.format = format;
    this.values = [];
  }

  push(value) {
    this.values.push(value);
    if (this.values.length > ChartSamples) this.values.shift();
    const w = 240, h = 60, n = this.values.length, max = Math.max(...this.values, 1e-9);
    const x = i => (n < 2 ? w : (i * w) / (n - 1)).toFixed(1);
    const y = v => (h - 2 - (v / max) * (h - 14)).toFixed(1);
    this.svg.innerHTML = `<polyline points="${this.values.map((v, i) => `${x(i)},${y(v)}`).join(' ')}"></polyline>` +
      `<text x="2" y="9">max ${this.format(max)}</text>`;
    this.label.textContent = this.format(value);
  }
}

// Turns each silo's counts so far into a cluster-wide rate: a silo that restarted counts from zero again, so a
// count that went down is a new start, not a negative rate.
class Rates {
  constructor() { this.last = new Map(); this.at = null; }

  rate(silos, field) {
    const now = performance.now();
    const seconds = this.at === null ? null : (now - this.at) / 1000;
    let delta = 0;
    for (const s of silos) {
      const key = `${s.name}/${field}`;
      const previous = this.last.get(key);
      const current = s.metrics[field];
      if (previous !== undefined) delta += current >= previous ? current - previous : current;
      this.last.set(key, current);
    }
    return { delta, seconds };
  }

  step(silos) {
    const grants = this.rate(silos, 'grants'), failovers = this.rate(silos, 'failovers');
    this.at = performance.now();
    return grants.seconds ? { grants: grants.delta / grants.seconds, failovers: failovers.delta / failovers.seconds } : null;
  }
}
