'use strict';
// The coordination page's loop: reads the JSON API every 1.5 s (never everything: each listing a page
// at a time) and renders each part on its own, so one part that cannot answer does not blank the others.

const RefreshMs = 1500;
const PageSize = 50;
// The listings searched by the name prefix (each table's id), and every paged listing.
const Prefixed = ['locks', 'elections', 'semaphores', 'rwlocks', 'values', 'counters', 'latches'];
const Paged = [...Prefixed, 'sessions'];

const state = {
  config: { servedBy: '', operatorActions: false },
  prefix: '',
  cursors: Object.fromEntries(Paged.map(list => [list, [null]])),
  degraded: new Set(),
  dead: new Set(),
  rates: new Rates(),
  charts: {
    grants: new Sparkline('chart-grants', v => v.toFixed(v < 10 ? 1 : 0)),
    p99: new Sparkline('chart-p99', v => `${v.toFixed(v < 10 ? 2 : 0)}`),
    failovers: new Sparkline('chart-failovers', v => v.toFixed(v < 10 ? 1 : 0)),
  },
};

async function getJson(url) {
  const r = await fetch(url, { cache: 'no-store' });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${r.status} ${answer.error ?? r.statusText}`);
  return answer;
}

const query = (list, extra) => {
  const c = state.cursors[list];
  const q = new URLSearchParams({ limit: PageSize, ...extra });
  if (c[c.length - 1] !== null) q.set('after', c[c.length - 1]);
  return q.toString();
};

function note(list, page) {
  state.next = state.next || {};
  state.next[list] = page.next;
  document.getElementById(`${list}-next`).disabled = !page.next;
  document.getElementById(`${list}-first`).disabled = state.cursors[list].length === 1;
  document.getElementById(`${list}-note`).textContent = `page ${state.cursors[list].length}${page.next ? '' : ' (last)'}`;
}

// One part per paged listing: reads the table's page at its cursor (under the prefix when searchable), renders it, notes its paging.
// A page asked for before the prefix or the cursor changed is dropped when it arrives late: it is another listing's.
const listing = (list, path, render, search = true) => async () => {
  const asked = () => JSON.stringify([search ? state.prefix : '', state.cursors[list]]);
  const before = asked();
  const page = await getJson(`/api/coordination/${path}?${query(list, search ? { prefix: state.prefix } : {})}`);
  if (asked() !== before) return;
  render(page, state.config.operatorActions);
  note(list, page);
};

function failed(table, error) {
  document.querySelector(`#${table} tbody`).innerHTML = `<tr><td colspan="7" class="bad">${esc(error.message)}</td></tr>`;
}

const parts = {
  async silos() {
    const data = await getJson('/api/coordination/silos');
    state.degraded = new Set(data.silos.flatMap(s => (s.readiness && s.readiness.degradedPartitions) || []));
    state.dead = new Set(data.silos.flatMap(s => ((s.view && s.view.members) || []).filter(m => m.status === 'Dead' || m.orleansStatus === 'Dead').map(m => m.member)));
    renderSilos(data);
  },
  async partitions() { renderPartitions(await getJson('/api/coordination/partitions'), state.degraded, state.dead, state.config.operatorActions); },
  locks: listing('locks', 'locks', renderLocks),
  elections: listing('elections', 'elections', renderElections),
  semaphores: listing('semaphores', 'semaphores', renderSemaphores),
  rwlocks: listing('rwlocks', 'reader-writer-locks', renderReaderWriterLocks),
  values: listing('values', 'values', renderValues),
  counters: listing('counters', 'counters', renderCounters),
  latches: listing('latches', 'latches', renderLatches),
  sessions: listing('sessions', 'sessions', renderSessions, false),
  async metrics() {
    const data = await getJson('/api/coordination/metrics');
    const rates = state.rates.step(data.silos);
    if (!rates) return;
    state.charts.grants.push(rates.grants);
    state.charts.p99.push(Math.max(0, ...data.silos.map(s => s.metrics.acquireP99Ms)));
    state.charts.failovers.push(rates.failovers);
  },
};

async function refresh() {
  const results = await Promise.allSettled(Object.entries(parts).map(([name, run]) => run().catch(e => {
    if (name !== 'metrics') failed(name === 'silos' ? 'processes' : name, e);
    throw e;
  })));
  const failures = results.filter(r => r.status === 'rejected').length;
  const updated = document.getElementById('updated');
  updated.textContent = `updated ${new Date().toLocaleTimeString()}${failures ? ` (${failures} parts not answering)` : ''}`;
  updated.className = failures ? 'bad' : 'muted';
}

let timer = null;
function refreshNow() {
  clearTimeout(timer);
  refresh().finally(() => { timer = setTimeout(refreshNow, RefreshMs); });
}

function wirePagers() {
  for (const list of Paged) {
    document.getElementById(`${list}-next`).onclick = () => { state.cursors[list].push(state.next[list]); refreshNow(); };
    document.getElementById(`${list}-first`).onclick = () => { state.cursors[list] = [null]; refreshNow(); };
  }
  document.getElementById('search').onsubmit = e => {
    e.preventDefault();
    state.prefix = document.getElementById('prefix').value;
    for (const list of Prefixed) state.cursors[list] = [null];
    refreshNow();
  };
}

async function start() {
  document.getElementById('page-size').textContent = PageSize;
  try {
    state.config = await getJson('/api/coordination/config');
  } catch (e) {
    document.getElementById('updated').textContent = `not answering: ${e.message}`;
  }
  const launcher = state.config.servedBy === 'launcher';
  document.getElementById('served-by').textContent = `served by ${state.config.servedBy}${state.config.operatorActions ? ' · operator actions on' : ''}`;
  document.getElementById('dashboard-link').hidden = !launcher;
  if (!launcher && state.config.servedBy) document.getElementById('title').textContent = `Coordination (${state.config.servedBy})`;
  wirePagers();
  Actions.wire(refreshNow);
  refreshNow();
}

start();
