namespace Coordination.Silo.Launcher;

/// <summary>The coordination page: silo processes and their health, partitions and replicas, the audit trail, and a lock lookup.</summary>
internal static class CoordinationPage
{
    public const string Html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Coordination</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 24px; color: #1d2430; }
          h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
          table { border-collapse: collapse; } td, th { padding: 4px 10px; border-bottom: 1px solid #e3e6ea; text-align: left; }
          .ok { color: #1a7f37; } .bad { color: #c0392b; } code { background: #f3f4f6; padding: 1px 4px; }
        </style></head>
        <body>
        <h1>Coordination local cluster</h1>
        <p><a href="/dashboard">Orleans dashboard</a> · cluster epoch <b id="epoch">?</b></p>
        <h2>Silo processes</h2><table id="silos"></table>
        <h2>Probes (each silo's view)</h2><table id="probes"></table>
        <h2>Lock</h2>
        <form id="lookup"><input id="name" placeholder="lock name" size="40"> <button>Look up</button></form>
        <pre id="lock"></pre>
        <h2>Partitions</h2><table id="partitions"></table>
        <h2>Audit trail</h2><table id="audit"></table>
        <script>
        const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
        async function json(url) { const r = await fetch(url); return [r.status, await r.json()]; }
        async function refresh() {
          try {
            const [, cluster] = await json('/api/cluster');
            const rows = await Promise.all(cluster.silos.map(async s => {
              let ready = 'down';
              try { const [st, h] = await json(`/api/silo/${s.index}/ready`); ready = st === 200 ? 'ready' : (h.caughtUp ? 'degraded' : 'catching up'); } catch {}
              return `<tr><td>silo${s.index}</td><td>pid ${s.pid ?? '-'}</td><td>gateway ${s.gatewayPort}</td><td>restarts ${s.restarts}</td><td class="${ready === 'ready' ? 'ok' : 'bad'}">${ready}</td></tr>`;
            }));
            document.getElementById('silos').innerHTML = rows.join('');
            const views = await Promise.all(cluster.silos.map(async s => { try { return [s.index, (await json(`/api/silo/${s.index}/membership`))[1]]; } catch { return [s.index, null]; } }));
            document.getElementById('probes').innerHTML = '<tr><th>view of</th><th>local health</th><th>member</th><th>status</th><th>incarnation</th><th>suspicion</th><th>rtt</th><th>Orleans</th></tr>' +
              views.flatMap(([i, v]) => !v || !v.members ? [`<tr><td>silo${i}</td><td colspan="7">${v && v.enabled === false ? 'probes off' : 'unreachable'}</td></tr>`] :
                v.members.filter(m => !m.isSelf).map(m => `<tr><td>silo${i}</td><td>${v.localHealth}</td><td>${esc(m.member)}</td><td class="${m.status === 'Alive' ? 'ok' : 'bad'}">${esc(m.status)}</td><td>${m.incarnation}</td>` +
                  `<td>${m.suspicionDeadlineInMs != null ? `${m.confirmations} votes, ${Math.round(m.suspicionDeadlineInMs)} ms left` : ''}</td><td>${m.roundTripMs != null ? m.roundTripMs.toFixed(2) + ' ms' : ''}</td><td>${esc(m.orleansStatus)}</td></tr>`)).join('');
            const [, view] = await json('/api/coordination/partitions');
            document.getElementById('epoch').textContent = view.clusterEpoch;
            document.getElementById('partitions').innerHTML = '<tr><th>partition</th><th>epoch</th><th>members</th><th>recovering</th><th>token epoch</th></tr>' +
              view.partitions.map(p => `<tr><td>${p.partition}</td><td>${p.epoch}</td><td>${p.members.map(esc).join('<br>')}</td><td>${p.recovering.map(esc).join('<br>')}</td><td>${p.tokenEpoch}</td></tr>`).join('');
            document.getElementById('audit').innerHTML = '<tr><th>at</th><th>operator</th><th>action</th><th>reason</th><th>epoch</th></tr>' +
              view.audit.slice().reverse().map(a => `<tr><td>${esc(a.at)}</td><td>${esc(a.operator)}</td><td>${esc(a.action)}</td><td>${esc(a.reason)}</td><td>${a.clusterEpoch}</td></tr>`).join('');
          } catch (e) { document.getElementById('epoch').textContent = 'unreachable'; }
        }
        document.getElementById('lookup').onsubmit = async e => {
          e.preventDefault();
          const [, info] = await json('/api/coordination/locks/' + encodeURIComponent(document.getElementById('name').value));
          document.getElementById('lock').textContent = JSON.stringify(info, null, 2);
        };
        refresh(); setInterval(refresh, 2000);
        </script>
        </body></html>
        """;
}
