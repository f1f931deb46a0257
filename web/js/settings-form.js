// settings-form.js -- a channel's settings as an admin edits them: the auto-responder (on or
// off, and its text) and the channel badge icon with a preview; on the Settings tab also the
// daily conversation limit. Used right after connecting an account and on the Settings tab.

import { api, loadImage } from './api.js';
import { channelBadge, refreshChannels } from './channels.js';
import { callout, h, icon } from './dom.js';
import { bytes, codePoints } from './format.js';

const TEXT_MAX = 6000;
const BADGE_MAX = 256 * 1024;
const BADGE_TYPES = ['image/png', 'image/jpeg', 'image/svg+xml'];

// opts: channel, showLimit (bool), secondary (a node placed after Save Changes),
// onSaved(channel).
export function settingsForm(opts) {
  const ch = opts.channel;
  const ar = ch.auto_responder || {};
  let badgeFile = null;
  let badgeUrl = null;
  let removeBadge = false;

  const status = h('div', { class: 'form-status' });
  const enabled = h('input', {
    type: 'checkbox', id: 'auto-enabled', role: 'switch', class: 'switch-input', checked: !!ar.enabled,
    onchange: () => drawAuto(),
  });
  const text = h('textarea', {
    id: 'auto-text', rows: '3', class: 'textarea',
    placeholder: 'Thanks for your message! We usually answer within an hour.',
    'aria-describedby': 'auto-text-hint auto-text-count',
  });
  text.value = ar.text || '';
  const count = h('span', { class: 'counter', id: 'auto-text-count' });
  const drawCount = () => {
    const n = codePoints(text.value);
    count.textContent = `${n} / ${TEXT_MAX}`;
    count.classList.toggle('counter--over', n > TEXT_MAX);
  };
  text.addEventListener('input', drawCount);
  drawCount();
  const textField = h('div', { class: 'field' },
    h('label', { for: 'auto-text' }, 'Auto-responder message'),
    text,
    h('div', { class: 'field-foot' },
      h('p', { class: 'hint', id: 'auto-text-hint' }, 'Plain text, sent as one TikTok message.'), count));
  const drawAuto = () => {
    textField.classList.toggle('field--off', !enabled.checked);
    text.required = enabled.checked;
  };
  drawAuto();

  // Badge: the current icon, or the chosen file's preview before it is saved.
  const preview = h('span', { class: 'badge-preview', dataset: { testid: 'badge-preview' } });
  const drawPreview = () => {
    preview.replaceChildren();
    if (badgeUrl) {
      preview.append(h('img', { src: badgeUrl, alt: 'New badge icon preview' }));
    } else if (ch.badge_url && !removeBadge) {
      const img = h('img', { alt: 'Current badge icon' });
      loadImage(img, ch.badge_url);
      preview.append(img);
    } else {
      preview.append(channelBadge({ ...ch, badge_url: null }, 'lg'));
    }
    removeButton.hidden = !(badgeFile || (ch.badge_url && !removeBadge));
    fileName.textContent = badgeFile
      ? `${badgeFile.name} · ${bytes(badgeFile.size)} · not saved yet`
      : removeBadge ? 'The default icon will be used.' : ch.badge_url ? 'Current icon' : 'Default icon';
  };
  const fileName = h('span', { class: 'hint' });
  const badgeInput = h('input', {
    type: 'file', id: 'badge-file', class: 'sr-only', tabindex: '-1', accept: BADGE_TYPES.join(','),
    onchange: () => {
      const f = badgeInput.files && badgeInput.files[0];
      badgeInput.value = '';
      if (!f) return;
      status.replaceChildren();
      if (!BADGE_TYPES.includes(f.type)) {
        status.append(callout('error', null, 'The badge icon must be a PNG, JPEG or SVG image.'));
        return;
      }
      if (f.size > BADGE_MAX) {
        status.append(callout('error', null, `The icon is ${bytes(f.size)}; badge icons may be at most ${bytes(BADGE_MAX)}.`));
        return;
      }
      if (badgeUrl) URL.revokeObjectURL(badgeUrl);
      badgeFile = f;
      badgeUrl = URL.createObjectURL(f);
      removeBadge = false;
      drawPreview();
    },
  });
  const removeButton = h('button', {
    class: 'btn btn--ghost btn--small', type: 'button',
    onclick: () => {
      if (badgeFile) {
        URL.revokeObjectURL(badgeUrl);
        badgeFile = null;
        badgeUrl = null;
      } else {
        removeBadge = true;
      }
      drawPreview();
    },
  }, 'Remove');
  drawPreview();

  let limit = null;
  if (opts.showLimit) {
    limit = h('input', {
      type: 'number', id: 'daily-limit', min: '100', max: '200', step: '1', class: 'input input--short',
      value: String(ch.daily_conversation_limit || 100), 'aria-describedby': 'daily-limit-hint',
    });
  }

  const save = h('button', { class: 'btn btn--primary', type: 'submit' }, 'Save Changes');
  const form = h('form', {
    class: 'settings-form', 'aria-label': 'Channel settings',
    onsubmit: async (ev) => {
      ev.preventDefault();
      status.replaceChildren();
      if (enabled.checked && !text.value.trim()) {
        status.append(callout('error', null, 'Write the auto-responder message, or switch the auto-responder off.'));
        text.focus();
        return;
      }
      save.disabled = true;
      try {
        const patch = { auto_responder: { enabled: enabled.checked, text: text.value } };
        if (limit && Number(limit.value) !== ch.daily_conversation_limit) patch.daily_conversation_limit = Number(limit.value);
        let saved = await api.patch(`/api/v1/channels/${ch.id}`, patch);
        if (badgeFile) {
          saved = await api.put(`/api/v1/channels/${ch.id}/badge`, badgeFile, badgeFile.type);
        } else if (removeBadge && ch.badge_url) {
          saved = await api.del(`/api/v1/channels/${ch.id}/badge`);
        }
        refreshChannels().catch(() => {});
        opts.onSaved(saved || ch);
      } catch (e) {
        status.append(callout('error', null, e.message));
      } finally {
        save.disabled = false;
      }
    },
  },
  h('fieldset', { class: 'card settings-section' },
    h('legend', {}, 'Auto-responder'),
    h('div', { class: 'switch-row' },
      h('label', { class: 'switch', for: 'auto-enabled' },
        enabled, h('span', { class: 'switch-track', 'aria-hidden': 'true' }),
        h('span', { class: 'switch-label' }, 'Send an automatic reply')),
      h('p', { class: 'hint' },
        'Sent once when a customer opens a new 48-hour window: their first message, or the first after the window closed. It counts as one of the 10 replies and obeys every TikTok rule.')),
    textField),
  h('fieldset', { class: 'card settings-section' },
    h('legend', {}, 'Channel badge icon'),
    h('p', { class: 'hint' }, 'Shown next to every conversation of this account so agents can tell accounts apart. PNG, JPEG or SVG, at most 256 KB; a square image of at least 64 px looks best.'),
    h('div', { class: 'badge-row' },
      preview,
      h('div', { class: 'badge-actions' },
        h('label', { class: 'btn btn--secondary btn--small', for: 'badge-file', tabindex: '0', role: 'button',
          onkeydown: (ev) => {
            if (ev.key === 'Enter' || ev.key === ' ') {
              ev.preventDefault();
              badgeInput.click();
            }
          } }, icon('upload'), 'Upload icon'),
        badgeInput, removeButton, fileName))),
  limit ? h('fieldset', { class: 'card settings-section' },
    h('legend', {}, 'Daily conversations'),
    h('div', { class: 'field' },
      h('label', { for: 'daily-limit' }, 'Limit per day (100–200)'),
      limit,
      h('p', { class: 'hint', id: 'daily-limit-hint' }, 'TikTok lets a business account message 100 to 200 different conversations a day, depending on the account. Set the limit TikTok gave this account.'))) : null,
  status,
  h('div', { class: 'form-actions' }, save, opts.secondary || null));
  return form;
}
