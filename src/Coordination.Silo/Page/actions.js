'use strict';
// Operator actions, offered only when the host enables them: each opens a dialog that wants an operator, a reason and
// the target typed again, then posts to the JSON API, which writes the act to the audit trail. A refusal is shown in
// the dialog; nothing changes on bad input.

const Actions = {
  pending: null,
  onDone: () => {},
  el: id => document.getElementById(id),

  open(what, confirmName, url, body) {
    this.pending = { url, body, confirmName };
    this.el('confirm-what').textContent = what;
    this.el('confirm-name').textContent = confirmName;
    this.el('confirm-operator').value = localStorage.getItem('coordination.operator') || '';
    this.el('confirm-reason').value = '';
    this.el('confirm-typed').value = '';
    this.el('confirm-error').textContent = '';
    this.check();
    this.el('confirm').showModal();
  },

  check() {
    const p = this.pending;
    this.el('confirm-ok').disabled = !p || this.el('confirm-typed').value !== p.confirmName ||
      !this.el('confirm-operator').value.trim() || !this.el('confirm-reason').value.trim();
  },

  async submit() {
    const operator = this.el('confirm-operator').value.trim(), reason = this.el('confirm-reason').value.trim();
    localStorage.setItem('coordination.operator', operator);
    this.el('confirm-ok').disabled = true;
    try {
      const r = await fetch(this.pending.url, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ...this.pending.body, operator, reason }),
      });
      const answer = await r.json().catch(() => ({}));
      if (!r.ok) {
        this.el('confirm-error').textContent = `${r.status} ${answer.type ?? ''}: ${answer.error ?? r.statusText}`;
        this.check();
        return;
      }
      this.el('confirm').close();
      this.onDone();
    } catch (e) {
      this.el('confirm-error').textContent = `not sent: ${e}`;
      this.check();
    }
  },

  wire(onDone) {
    this.onDone = onDone;
    for (const id of ['confirm-operator', 'confirm-reason', 'confirm-typed']) this.el(id).addEventListener('input', () => this.check());
    this.el('confirm-form').addEventListener('submit', e => {
      if (e.submitter && e.submitter.value === 'cancel') return;
      e.preventDefault();
      this.submit();
    });
    document.body.addEventListener('click', e => {
      const b = e.target.closest('button.revoke, button.reinit');
      if (!b) return;
      if (b.classList.contains('revoke')) {
        const kind = b.dataset.kind, name = b.dataset.name;
        this.open(`Revoke ${kind} ${name}`, name, '/api/coordination/revoke', { kind, name });
      } else {
        const p = Number(b.dataset.partition);
        this.open(`Re-initialise partition ${p} (its registers come back empty)`, `partition ${p}`, '/api/coordination/reinitialize', { partitions: [p] });
      }
    });
  },
};
