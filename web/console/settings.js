// Settings, in a dialog: the inbox address and chat link (with
// "Regenerate address" for owners), the widget's look and welcome, the
// snippet to paste into a site, the team with invitations, and the
// agent's own password. Inbox changes made elsewhere apply live.

import { h } from '../ui/dom.js';
import { icons } from '../ui/icons.js';
import { STATUS_LABEL } from '../ui/format.js';
import { authAPI } from './session.js';
import { more, field, uid, avatar, copyButton, toast, explain, bytes, dateTime, readableOn } from './kit.js';

export class SettingsView {
  constructor(app) {
    this.app = app;
    this.dirty = false;
    this.closeBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close settings', title: 'Close (Esc)', html: icons.close, onclick: () => this.close() });
    this.content = h('div', { class: 'sheet-body' },
      this._addressSection(), this._widgetSection(), this._snippetSection(), this._teamSection(), this._accountSection());
    this.dialog = h('dialog', { class: 'sheet glass', 'aria-labelledby': 'settings-title' },
      h('header', { class: 'sheet-head' }, h('span', { class: 'sheet-icon', html: icons.settings, 'aria-hidden': 'true' }),
        h('div', {}, h('h2', { id: 'settings-title' }, 'Settings'), h('p', {}, app.isOwner ? 'Your inbox, your widget and your team.' : 'Your inbox and your account. Owners change the widget and invite people.')),
        this.closeBtn),
      this.content);
    this.dialog.addEventListener('close', () => {
      this._hideConfirm(false);
      this.returnTo?.focus();
    });
    this.dialog.addEventListener('click', (e) => e.target === this.dialog && this.close()); // the backdrop
    document.body.append(this.dialog);
  }

  get isOpen() {
    return this.dialog.open;
  }

  open(returnTo) {
    this.returnTo = returnTo;
    if (this.app.settings) this.update(this.app.settings);
    else this.app.loadSettings();
    this.renderTeam();
    this.app.loadTeam();
    if (!this.dialog.open) this.dialog.showModal();
    this.content.scrollTop = 0;
    this.closeBtn.focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  destroy() {
    this.close();
    this.dialog.remove();
  }

  // --- the address ---

  _addressSection() {
    const app = this.app;
    this.addressEl = h('code', { class: 'address', 'data-field': 'address' }, '…');
    this.chatLink = h('a', { class: 'chat-link', 'data-field': 'chat_url', target: '_blank', rel: 'noopener' }, '…');
    this.regenBtn = h('button', { type: 'button', class: 'btn danger-outline', onclick: () => this._showConfirm() }, h('span', { html: icons.refresh, 'aria-hidden': 'true' }), 'Regenerate address');
    this.confirmNo = h('button', { type: 'button', class: 'btn', onclick: () => this._hideConfirm(true) }, 'Cancel');
    this.confirmYes = h('button', { type: 'button', class: 'btn danger', onclick: () => this._regenerate() }, 'Regenerate');
    const cid = uid('confirm');
    this.confirm = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': cid, hidden: true,
      onkeydown: (e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          e.stopPropagation();
          this._hideConfirm(true);
        }
      } },
    h('span', { class: 'confirm-icon', html: more.warn, 'aria-hidden': 'true' }),
    h('div', {},
      h('strong', { id: cid }, 'Regenerate the inbox address?'),
      h('p', {}, 'The old address stops working at once: its chat link and every widget that uses it become invalid for every visitor, including anyone chatting right now. Paste the new snippet into your site straight after.'),
      h('div', { class: 'actions' }, this.confirmNo, this.confirmYes)));
    return card('Inbox address', 'Visitors reach you through this address: it is in your widget’s tag and in your chat link.', [
      h('div', { class: 'kv' },
        h('span', { class: 'kv-label' }, 'Address'),
        h('div', { class: 'kv-value' }, this.addressEl, copyButton(() => this.addressEl.textContent, 'Copy the address'))),
      h('div', { class: 'kv' },
        h('span', { class: 'kv-label' }, 'Chat link'),
        h('div', { class: 'kv-value' }, this.chatLink, copyButton(() => this.chatLink.href, 'Copy the chat link'))),
      app.isOwner
        ? h('div', { class: 'danger-zone' }, this.regenBtn, this.confirm)
        : h('p', { class: 'note' }, 'Only owners can regenerate the address.'),
    ]);
  }

  _showConfirm() {
    this.regenBtn.hidden = true;
    this.confirm.hidden = false;
    this.confirmNo.focus();
  }

  _hideConfirm(refocus) {
    if (!this.confirm) return;
    this.confirm.hidden = true;
    this.regenBtn.hidden = false;
    if (refocus) this.regenBtn.focus();
  }

  async _regenerate() {
    this.confirmYes.disabled = true;
    try {
      const s = await this.app.client.api('POST', '/inbox/address');
      this.app.applySettings(s);
      this._hideConfirm(true);
      toast('The inbox has a new address. Paste the new snippet into your site.');
    } catch (e) {
      toast(explain(e, 'The address was not changed'), true);
    } finally {
      this.confirmYes.disabled = false;
    }
  }

  // --- the widget ---

  _widgetSection() {
    const owner = this.app.isOwner;
    const ro = owner ? {} : { disabled: true };
    this.nameField = field({ label: 'Widget name', maxlength: 80, required: true, hint: 'The title visitors see, e.g. your company or team.', ...ro });
    this.welcomeField = field({ label: 'Welcome message', multiline: true, rows: 3, maxlength: 1000, hint: 'The first message visitors see. Leave it empty for none.', ...ro });
    const colorId = uid('color');
    this.colorInput = h('input', { type: 'color', id: colorId, class: 'color', ...ro });
    this.colorHex = h('span', { class: 'mono color-hex', 'aria-hidden': 'true' });
    const pos = uid('pos');
    this.rightRadio = h('input', { type: 'radio', name: pos, value: 'right', id: pos + '-r', ...ro });
    this.leftRadio = h('input', { type: 'radio', name: pos, value: 'left', id: pos + '-l', ...ro });
    this.saveBtn = h('button', { type: 'submit', class: 'btn primary' }, 'Save');
    this.saveState = h('span', { class: 'save-state', role: 'status' });

    // A small live preview of the widget.
    this.pvHead = h('div', { class: 'pv-head' }, h('span', { class: 'pv-avatar' }), h('span', { class: 'pv-name' }));
    this.pvBubble = h('div', { class: 'pv-bubble' });
    this.pvLauncher = h('span', { class: 'pv-launcher', html: icons.chat });
    this.preview = h('div', { class: 'preview', 'aria-hidden': 'true' },
      h('div', { class: 'pv-panel' }, this.pvHead, h('div', { class: 'pv-body' }, this.pvBubble, h('div', { class: 'pv-input' }))),
      this.pvLauncher);

    const form = h('form', { class: 'widget-form', novalidate: true, onsubmit: (e) => this._save(e), oninput: () => this._edited(), onchange: () => this._edited() },
      h('div', { class: 'widget-grid' },
        h('div', { class: 'widget-fields' },
          this.nameField.el,
          this.welcomeField.el,
          h('div', { class: 'row2' },
            h('div', { class: 'field' }, h('label', { for: colorId }, 'Widget colour'), h('div', { class: 'color-row' }, this.colorInput, this.colorHex)),
            h('fieldset', { class: 'field radios' }, h('legend', {}, 'Position'),
              h('div', { class: 'segmented' },
                h('label', { for: pos + '-l' }, this.leftRadio, h('span', {}, 'Left')),
                h('label', { for: pos + '-r' }, this.rightRadio, h('span', {}, 'Right')))))),
        this.preview),
      owner
        ? h('div', { class: 'actions end' }, this.saveState, this.saveBtn)
        : h('p', { class: 'note' }, 'Only owners change the widget. Ask an owner of your account.'));
    return card('Widget', 'How the chat looks on your site. Changes reach open widgets at once.', [form]);
  }

  _edited() {
    this.dirty = true;
    this.saveState.textContent = '';
    this._paintPreview();
  }

  _paintPreview() {
    const color = this.colorInput.value || '#4f46e5';
    this.colorHex.textContent = color;
    this.preview.style.setProperty('--pv', color);
    this.preview.style.setProperty('--pv-fg', readableOn(color));
    const name = this.nameField.input.value.trim() || 'Chat';
    this.pvHead.querySelector('.pv-name').textContent = name;
    this.pvHead.querySelector('.pv-avatar').textContent = name.charAt(0).toUpperCase();
    const welcome = this.welcomeField.input.value.trim();
    this.pvBubble.textContent = welcome;
    this.pvBubble.hidden = !welcome;
    this.preview.classList.toggle('left', this.leftRadio.checked);
  }

  async _save(e) {
    e.preventDefault();
    if (!this.app.isOwner) return;
    const name = this.nameField.input.value.trim();
    if (!name) {
      this.nameField.input.setAttribute('aria-invalid', 'true');
      this.nameField.input.focus();
      this.saveState.textContent = 'Give the widget a name.';
      return;
    }
    this.nameField.input.removeAttribute('aria-invalid');
    this.saveBtn.disabled = true;
    this.saveState.textContent = 'Saving…';
    try {
      const s = await this.app.client.api('PATCH', '/inbox/settings', {
        name, welcome: this.welcomeField.input.value.trim(), color: this.colorInput.value,
        position: this.leftRadio.checked ? 'left' : 'right',
      });
      this.dirty = false;
      this.app.applySettings(s);
      this.saveState.textContent = 'Saved';
    } catch (err) {
      this.saveState.textContent = explain(err, 'Not saved');
    } finally {
      this.saveBtn.disabled = false;
    }
  }

  // --- the snippet ---

  _snippetSection() {
    this.snippetEl = h('code', { 'data-field': 'snippet' }, '…');
    return card('Add the chat to your site', 'Paste this tag into every page of your site, just before </body>.', [
      h('div', { class: 'snippet' }, h('pre', {}, this.snippetEl), copyButton(() => this.snippetEl.textContent, 'Copy the snippet', { className: 'btn small on-dark' })),
    ]);
  }

  // update shows the inbox's settings (live: inbox:settings). The widget
  // form keeps what the owner is typing.
  update(s) {
    if (!s) return;
    this.addressEl.textContent = s.address;
    this.chatLink.textContent = s.chat_url;
    this.chatLink.href = s.chat_url;
    this.snippetEl.textContent = s.snippet;
    if (!this.dirty) {
      this.nameField.input.value = s.name || '';
      this.welcomeField.input.value = s.welcome || '';
      this.colorInput.value = /^#[0-9a-f]{6}$/i.test(s.color) ? s.color.toLowerCase() : '#4f46e5';
      this.rightRadio.checked = s.position !== 'left';
      this.leftRadio.checked = s.position === 'left';
    }
    this._paintPreview();
  }

  // --- the team ---

  _teamSection() {
    this.teamList = h('ul', { class: 'team' });
    const parts = [this.teamList];
    if (this.app.isOwner) {
      this.inviteName = field({ label: 'Their name (optional)', maxlength: 100, autocomplete: 'off', placeholder: 'e.g. Maria' });
      this.inviteBtn = h('button', { type: 'submit', class: 'btn primary' }, h('span', { html: more.plus, 'aria-hidden': 'true' }), 'Invite an agent');
      this.inviteOut = h('div', { class: 'invite-out', hidden: true, role: 'status' });
      parts.push(h('form', { class: 'invite', novalidate: true, onsubmit: (e) => this._invite(e) },
        h('div', { class: 'invite-row' }, this.inviteName.el, this.inviteBtn)), this.inviteOut);
    } else {
      parts.push(h('p', { class: 'note' }, 'Only owners invite agents.'));
    }
    return card('Team', 'Everyone here answers the same inbox. Visitors see you online when anyone is.', parts);
  }

  renderTeam() {
    const app = this.app;
    const members = [...app.team.values()].sort((a, b) => (a.user.id === app.me.id ? -1 : b.user.id === app.me.id ? 1 : (a.user.display_name || '').localeCompare(b.user.display_name || '')));
    if (!members.length) {
      this.teamList.replaceChildren(h('li', { class: 'muted' }, 'Loading the team…'));
      return;
    }
    this.teamList.replaceChildren(...members.map((m) => {
      const st = app.presenceOf(m.user.id)?.status || m.status || 'offline';
      const name = m.user.display_name || m.user.name;
      return h('li', {},
        avatar(name, { size: 'sm', dot: h('span', { class: `dot ${st}` }) }),
        h('div', { class: 'member' },
          h('strong', {}, name, m.user.id === app.me.id ? h('span', { class: 'you' }, ' (you)') : null),
          h('small', {}, m.login || 'No login yet')),
        h('span', { class: 'chip' }, m.user.role === 'owner' ? 'Owner' : 'Agent'),
        h('span', { class: 'member-status' }, STATUS_LABEL[st] || st));
    }));
  }

  async _invite(e) {
    e.preventDefault();
    this.inviteBtn.disabled = true;
    try {
      const name = this.inviteName.input.value.trim();
      const inv = await this.app.client.api('POST', '/team/invites', name ? { display_name: name } : {});
      const url = h('code', { 'data-field': 'invite-url' }, inv.url);
      this.inviteOut.replaceChildren(
        h('p', {}, h('strong', {}, name ? `An invitation for ${name} is ready.` : 'Your invitation is ready.'),
          ` Send this link to your new agent: it works once, until ${dateTime(inv.expires_at)}.`),
        h('div', { class: 'kv-value' }, url, copyButton(() => inv.url, 'Copy the invitation link')));
      this.inviteOut.hidden = false;
      this.inviteName.input.value = '';
    } catch (err) {
      toast(explain(err, 'The invitation was not made'), true);
    } finally {
      this.inviteBtn.disabled = false;
    }
  }

  // --- your account ---

  _accountSection() {
    const s = this.app.session;
    const me = this.app.me;
    const hasLogin = !!s.data?.login;
    this.loginField = hasLogin ? null : field({ label: 'Login', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
    this.curField = hasLogin ? field({ label: 'Current password', type: 'password', autocomplete: 'current-password' }) : null;
    this.newField = field({ label: 'New password', type: 'password', autocomplete: 'new-password', hint: '8 to 72 characters.' });
    this.confirmField = field({ label: 'Confirm new password', type: 'password', autocomplete: 'new-password' });
    this.pwState = h('span', { class: 'save-state', role: 'status' });
    this.pwBtn = h('button', { type: 'submit', class: 'btn primary' }, 'Change password');
    const form = h('form', { class: 'password-form', novalidate: true, onsubmit: (e) => this._password(e) },
      h('input', { type: 'text', hidden: true, autocomplete: 'username', value: s.data?.login || '', 'aria-hidden': 'true', tabindex: '-1' }),
      this.loginField?.el, this.curField?.el,
      h('div', { class: 'row2' }, this.newField.el, this.confirmField.el),
      h('div', { class: 'actions end' }, this.pwState, this.pwBtn));
    return card('Your account', null, [
      h('div', { class: 'account' },
        avatar(me.display_name || me.name, { size: 'md' }),
        h('div', {}, h('strong', {}, me.display_name || me.name),
          h('small', {}, `${me.role === 'owner' ? 'Owner' : 'Agent'}${s.data?.login ? ' · signs in as ' + s.data.login : ''}`))),
      form,
    ]);
  }

  async _password(e) {
    e.preventDefault();
    const s = this.app.session;
    const fail = (f, text) => {
      f.input.setAttribute('aria-invalid', 'true');
      f.input.focus();
      this.pwState.textContent = text;
      this.pwState.classList.add('error');
    };
    for (const f of [this.loginField, this.curField, this.newField, this.confirmField]) f?.input.removeAttribute('aria-invalid');
    this.pwState.classList.remove('error');
    const login = this.loginField ? this.loginField.input.value.trim() : s.data.login;
    if (this.loginField && login.length < 2) return fail(this.loginField, 'Choose a login.');
    if (this.curField && !this.curField.input.value) return fail(this.curField, 'Enter your current password.');
    const pw = this.newField.input.value;
    if (bytes(pw) < 8 || bytes(pw) > 72) return fail(this.newField, 'A password is 8 to 72 characters.');
    if (this.confirmField.input.value !== pw) return fail(this.confirmField, 'The two new passwords are not the same.');
    this.pwBtn.disabled = true;
    this.pwState.textContent = 'Saving…';
    try {
      const next = await authAPI.setPassword(s.data.token, { login, password: pw, current: this.curField?.input.value });
      s.save(next);
      for (const f of [this.curField, this.newField, this.confirmField]) if (f) f.input.value = '';
      this.pwState.textContent = 'Password changed';
      toast('Your password was changed.');
    } catch (err) {
      if (err.code === 'bad_credentials') fail(this.curField || this.newField, 'The current password is not right.');
      else {
        this.pwState.textContent = explain(err, 'Not changed');
        this.pwState.classList.add('error');
      }
    } finally {
      this.pwBtn.disabled = false;
    }
  }
}

function card(title, lead, children) {
  const id = uid('sec');
  return h('section', { class: 'card', 'aria-labelledby': id },
    h('h3', { id }, title), lead ? h('p', { class: 'card-lead' }, lead) : null, ...children);
}
