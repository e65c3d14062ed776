/*
 * smtpsink web UI (plain JavaScript, no framework, no build step).
 *
 * Talks to the sink's HTTP server only, with URLs relative to the page (so a
 * --http-base-path works): the control API at POST smtpsink.v1.Sink/<Method>
 * (proto3 JSON: lowerCamelCase keys, uint64 as strings), live mail from the
 * Server-Sent Events at api/events, raw bytes and attachments from
 * api/messages/<id>/..., single deletes through the Mailpit-compatible
 * DELETE api/v1/messages.
 *
 * Invariants (captured mail is hostile input):
 *  - mail data (subjects, addresses, headers, file names, bodies) reaches
 *    the DOM only as text: textContent, attribute values, never innerHTML;
 *  - an HTML body is shown only in an iframe sandboxed without allow-scripts
 *    and allow-same-origin, through srcdoc, after DOMParser (inert: no
 *    script runs, nothing loads) removed scripts and meta refreshes and a
 *    CSP meta went first in its head (img-src data: unless remote images
 *    are allowed; cid: parts become data: URLs);
 *  - no inline script or style, no eval: the page works under a strict CSP.
 *
 * The list is newest first, PAGE at a time. ListMessages returns the oldest
 * `limit` matches above `after_id` and how many matched, so a page ending
 * below id X is found by searching for the after_id whose match count up
 * to X is exactly PAGE (a couple of requests when ids are dense, a few
 * dozen cheap ones for a sparse filter over 100,000 messages).
 */
'use strict';
(() => {
	const PAGE = 50;
	const RAW_SHOW = 2 * 1024 * 1024; /* raw tab: bytes shown before "download" */
	const $ = (id) => document.getElementById(id);
	const BASE = (() => {
		const p = location.pathname;
		const i = p.indexOf('/ui/');
		return i >= 0 ? p.slice(0, i + 1) : p.replace(/[^/]*$/, '');
	})();

	const st = {
		view: 'messages',
		filter: {},
		items: [],	/* Message JSON, newest first */
		top: true,	/* the page holds the newest matches */
		offset: 0,	/* matches newer than items[0] */
		total: 0,
		lastId: 0,	/* highest id seen (list or event) */
		sel: -1,
		open: null,	/* the Message shown */
		pending: 0,	/* new matches while not on the newest page */
		es: null,
		loading: 0,
		serverTimer: 0,
	};

	/* --- helpers ------------------------------------------------------- */

	/* el('li', {className: 'x', text: 'y', attrs: {role: 'option'}}, child...) */
	function el(tag, props, ...kids) {
		const e = document.createElement(tag);
		if (props) {
			for (const [k, v] of Object.entries(props)) {
				if (k === 'text')
					e.textContent = v;
				else if (k === 'attrs')
					for (const [a, av] of Object.entries(v)) e.setAttribute(a, av);
				else
					e[k] = v;
			}
		}
		for (const k of kids)
			if (k != null) e.append(k);
		return e;
	}
	const num = (v) => Number(v || 0);
	const clear = (e) => { e.replaceChildren(); return e; };

	function size(n) {
		n = num(n);
		if (n < 1024) return n + ' B';
		if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
		return (n / 1024 / 1024).toFixed(1) + ' MiB';
	}

	function when(ts, long) {
		if (!ts) return '';
		const d = new Date(ts);
		if (long) return d.toLocaleString();
		const now = new Date();
		return d.toDateString() === now.toDateString() ? d.toLocaleTimeString() : d.toLocaleDateString();
	}

	let toastTimer = 0;
	function toast(text, ok) {
		const t = $('toast');
		t.textContent = text;
		t.classList.toggle('ok', !!ok);
		t.hidden = false;
		clearTimeout(toastTimer);
		toastTimer = setTimeout(() => { t.hidden = true; }, ok ? 2500 : 6000);
	}
	const fail = (e) => toast(String(e && e.message ? e.message : e));

	/* POST smtpsink.v1.Sink/<method>; the reply's JSON or an Error with the server's reason */
	async function rpc(method, body) {
		const r = await fetch(BASE + 'smtpsink.v1.Sink/' + method, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(body || {}),
		});
		const t = await r.text();
		let j = {};
		try { j = t ? JSON.parse(t) : {}; } catch (e) { j = { message: t }; }
		if (!r.ok)
			throw new Error(method + ': ' + (j.message || r.statusText) + ' (' + (j.code || r.status) + ')');
		return j;
	}

	/* A modal yes/no in the page (no window.confirm: keyboard and tests stay in the page) */
	function confirmBox(text) {
		const d = $('confirm');
		$('confirm-text').textContent = text;
		return new Promise((resolve) => {
			d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
			d.returnValue = '';
			d.showModal();
			$('confirm-no').focus();
		});
	}

	/* --- filter and list ----------------------------------------------- */

	/* Form -> Filter JSON: plain text means "contains" (*text*), a glob stays as typed */
	function readFilter() {
		const f = {};
		for (const inp of $('search').querySelectorAll('input[name]')) {
			const v = inp.value.trim();
			if (v === '') continue;
			f[inp.name] = inp.name === 'headerName' || /[*?[\\]/.test(v) ? v : '*' + v + '*';
		}
		return f;
	}

	/*
	 * A link can open the page already searched: ?rcptTo=@example.test&subject=...
	 * (the form's field names; "to" and "from" too). The values fill the form,
	 * so they read as typed; nothing from the URL reaches the page but as text.
	 */
	function searchFromQuery() {
		const q = new URLSearchParams(location.search);
		const alias = { to: 'rcptTo', from: 'mailFrom' };
		const inputs = new Map([...$('search').querySelectorAll('input[name]')].map((i) => [i.name, i]));
		let more = false;
		for (const [k, v] of q) {
			const inp = inputs.get(alias[k] || k);
			if (!inp) continue;
			inp.value = v;
			if (inp.id !== 'f-subject' && v.trim() !== '') more = true;
		}
		if (more) $('more').open = true;
		st.filter = readFilter();
	}

	function list(afterId, limit) {
		return rpc('ListMessages', {
			filter: Object.assign({}, st.filter, { afterId: String(afterId) }),
			limit: limit,
		});
	}
	async function countAbove(a) {
		return num((await list(a, 1)).matched);
	}

	/*
	 * The page of the newest PAGE matches with id < before (null: the newest
	 * overall). c(a) = matches in (a, hi] falls by at most 1 per step of a, so
	 * the largest a with c(a) >= PAGE has c(a) == PAGE: after_id=a, limit=PAGE
	 * then returns exactly the page.
	 */
	async function fetchPage(before) {
		const head = await list(0, 1);
		const total = num(head.matched);
		const hi = before == null ? num(head.lastId) : before - 1;
		const base = before == null ? 0 : await countAbove(hi);
		let msgs;
		if (total - base <= PAGE) {
			msgs = (await list(0, PAGE)).messages || [];
		} else {
			let step = PAGE, lo = -1, up = hi, a = Math.max(0, hi - step);
			let r = await list(a, PAGE);
			let c = num(r.matched) - base;
			if (c !== PAGE) {
				if (c > PAGE) lo = a; else up = a;
				while (lo < 0) { /* gallop down until enough */
					step *= 2;
					a = Math.max(0, hi - step);
					c = (await countAbove(a)) - base;
					if (c >= PAGE) lo = a; else up = a;
					if (c === PAGE) break;
				}
				while (c !== PAGE && up - lo > 1) { /* bisect (lo: enough, up: too few) */
					a = Math.floor((lo + up) / 2);
					c = (await countAbove(a)) - base;
					if (c >= PAGE) lo = a; else up = a;
				}
				if (c !== PAGE) a = lo;
				r = await list(a, PAGE);
			}
			msgs = r.messages || [];
		}
		msgs = msgs.filter((m) => num(m.id) <= hi).reverse();
		return { msgs, total, lastId: num(head.lastId), offset: base };
	}

	async function loadPage(before, keepSel) {
		const token = ++st.loading;
		const selId = keepSel && st.items[st.sel] ? st.items[st.sel].id : (st.open ? st.open.id : null);
		$('range').textContent = 'Loading…';
		let p;
		try {
			p = await fetchPage(before);
		} catch (e) {
			$('range').textContent = '';
			fail(e);
			return;
		}
		if (token !== st.loading) return; /* a newer load superseded this one */
		st.items = p.msgs;
		st.total = p.total;
		st.offset = p.offset;
		st.top = before == null;
		st.lastId = Math.max(st.lastId, p.lastId);
		if (st.top) st.pending = 0;
		let i = selId != null ? st.items.findIndex((m) => m.id === selId) : -1;
		st.sel = i >= 0 ? i : (st.items.length ? 0 : -1);
		renderList();
	}

	async function loadNewer() {
		if (st.top || !st.items.length) return loadPage(null);
		try {
			const r = await list(num(st.items[0].id), PAGE);
			if (num(r.matched) <= PAGE) return loadPage(null);
			st.offset -= (r.messages || []).length;
			st.items = (r.messages || []).reverse();
			st.sel = st.items.length - 1;
			renderList();
		} catch (e) { fail(e); }
	}

	function loadOlder() {
		if (!st.items.length || st.offset + st.items.length >= st.total) return;
		return loadPage(num(st.items[st.items.length - 1].id));
	}

	function flags(m) {
		const f = el('div', { className: 'flags' });
		const add = (t, cls, title) => f.append(el('span', { className: 'flag' + (cls ? ' ' + cls : ''), text: t, title: title || '' }));
		const na = (m.attachments || []).length;
		if (na) add(na + (na === 1 ? ' attachment' : ' attachments'));
		if (m.tls) add('TLS', '', m.tlsVersion || 'TLS');
		if (m.authUser) add('AUTH ' + m.authUser, '', 'authenticated as ' + m.authUser);
		if (m.smtputf8) add('SMTPUTF8');
		for (const a of m.anomalies || []) add('⚠ ' + a, 'warn', 'anomaly: ' + a);
		return f;
	}

	function row(m, i) {
		const li = el('li', {
			id: 'm' + m.id,
			attrs: { role: 'option', 'aria-selected': String(i === st.sel), 'data-i': String(i) },
		});
		const from = m.from || (m.mailFrom ? '<' + m.mailFrom + '>' : '<>');
		li.append(
			el('span', { className: 'from', text: from }),
			el('span', { className: 'when', text: when(m.receivedAt), title: when(m.receivedAt, true) }),
			el('span', { className: 'subj', text: m.subject || '(no subject)' }),
			el('span', { className: 'size', text: size(m.size) }),
			el('span', { className: 'rcpt', text: 'to ' + (m.rcptTo || []).join(', ') }),
			flags(m));
		if (st.open && st.open.id === m.id) li.classList.add('open');
		return li;
	}

	function renderList() {
		const ul = $('list');
		const frag = document.createDocumentFragment();
		st.items.forEach((m, i) => frag.append(row(m, i)));
		ul.replaceChildren(frag);
		$('empty').hidden = st.items.length > 0;
		const first = st.offset + 1, last = st.offset + st.items.length;
		$('range').textContent = st.items.length ? first + '–' + last + ' of ' + st.total : '0 of ' + st.total;
		$('count').textContent = String(st.total);
		$('newer').disabled = st.top;
		$('older').disabled = last >= st.total;
		const p = $('pending');
		p.hidden = st.pending === 0;
		p.textContent = st.pending + ' new — show';
		markSel(false);
	}

	function markSel(scroll) {
		const ul = $('list');
		for (const li of ul.children) li.setAttribute('aria-selected', String(Number(li.dataset.i) === st.sel));
		const cur = st.sel >= 0 ? ul.children[st.sel] : null;
		if (cur) {
			ul.setAttribute('aria-activedescendant', cur.id);
			if (scroll) cur.scrollIntoView({ block: 'nearest' });
		} else {
			ul.removeAttribute('aria-activedescendant');
		}
	}

	function move(d) {
		if (!st.items.length) return;
		st.sel = Math.max(0, Math.min(st.items.length - 1, (st.sel < 0 ? 0 : st.sel + d)));
		markSel(true);
		$('list').focus();
	}

	/* --- live events --------------------------------------------------- */

	function connectEvents() {
		if (st.es) st.es.close();
		const q = new URLSearchParams(st.filter);
		q.set('after_id', String(st.lastId));
		const es = new EventSource(BASE + 'api/events?' + q.toString());
		st.es = es;
		const live = $('live');
		es.onopen = () => { live.textContent = 'live'; live.className = 'live on'; };
		es.onerror = () => { live.textContent = 'reconnecting'; live.className = 'live off'; };
		es.addEventListener('message', (e) => {
			if (es !== st.es) return;
			let m;
			try { m = JSON.parse(e.data); } catch (err) { return; }
			const id = num(m.id);
			if (id <= st.lastId && st.items.some((x) => x.id === m.id)) return;
			st.lastId = Math.max(st.lastId, id);
			st.total++;
			if (st.top) {
				const selId = st.items[st.sel] ? st.items[st.sel].id : null;
				st.items.unshift(m);
				if (st.items.length > PAGE) st.items.pop();
				const i = selId != null ? st.items.findIndex((x) => x.id === selId) : -1;
				st.sel = i >= 0 ? i : 0;
			} else {
				st.pending++;
				st.offset++;
			}
			renderList();
		});
	}

	/* --- one message --------------------------------------------------- */

	const TABS = ['html', 'text', 'headers', 'envelope', 'anomalies', 'raw', 'attachments'];

	function selectTab(name, focus) {
		for (const t of TABS) {
			const on = t === name;
			const b = $('t-' + t);
			b.setAttribute('aria-selected', String(on));
			b.tabIndex = on ? 0 : -1;
			$('p-' + t).hidden = !on;
			if (on && focus) b.focus();
		}
		if (name === 'raw' && st.open) loadRaw(st.open);
	}

	async function openMessage(id) {
		let m;
		try {
			m = await rpc('GetMessage', { id: String(id) });
		} catch (e) {
			fail(e);
			return;
		}
		st.open = m;
		const i = st.items.findIndex((x) => x.id === m.id);
		if (i >= 0) st.sel = i;
		for (const li of $('list').children) li.classList.toggle('open', li.id === 'm' + m.id);
		markSel(true);
		renderMessage(m);
	}

	function closeMessage() {
		st.open = null;
		$('msg').hidden = true;
		$('m-frame').srcdoc = '';
		for (const li of $('list').children) li.classList.remove('open');
		if (location.hash.startsWith('#/messages/')) history.replaceState(null, '', '#/messages');
		$('list').focus();
	}

	function kvRow(tb, k, v) {
		tb.append(el('tr', null, el('th', { text: k, attrs: { scope: 'row' } }), el('td', { text: v })));
	}
	function dl(d, k, v) {
		d.append(el('dt', { text: k }), el('dd', { text: v }));
	}
	const params = (ps) => (ps || []).map((p) => p.value ? p.name + '=' + p.value : p.name).join(' ');

	function renderMessage(m) {
		$('msg').hidden = false;
		$('m-subject').textContent = m.subject || '(no subject)';
		$('m-from').textContent = m.from || '<' + (m.mailFrom || '') + '>';
		$('m-to').textContent = [].concat(m.to || [], m.cc || []).join(', ') || (m.rcptTo || []).join(', ');
		$('m-date').textContent = when(m.receivedAt, true);
		const eml = $('m-eml');
		eml.href = BASE + 'api/messages/' + m.id + '.eml';
		eml.download = m.id + '.eml';

		$('m-text').textContent = m.textBody || '(no text part)';

		const hb = clear($('m-headers'));
		for (const h of m.headers || []) kvRow(hb, h.name, h.value);

		const env = clear($('m-envelope'));
		dl(env, 'MAIL FROM', '<' + (m.mailFrom || '') + '>' + (m.mailParams && m.mailParams.length ? ' ' + params(m.mailParams) : ''));
		(m.rcptTo || []).forEach((r, i) => {
			const p = m.rcptParams && m.rcptParams[i] ? params(m.rcptParams[i].params) : '';
			dl(env, 'RCPT TO', '<' + r + '>' + (p ? ' ' + p : ''));
		});
		dl(env, 'HELO', m.helo || '');
		dl(env, 'Peer', m.peer || '');
		dl(env, 'Session', m.sessionId || '');
		dl(env, 'TLS', m.tls ? [m.tlsVersion, m.tlsCipher].filter(Boolean).join(' ') || 'yes' : 'no');
		dl(env, 'AUTH', m.authUser ? m.authUser + (m.authMechanism ? ' (' + m.authMechanism + ')' : '') : 'none');
		dl(env, 'Body type', m.bodyType || '7BIT');
		dl(env, 'SMTPUTF8', m.smtputf8 ? 'yes' : 'no');
		dl(env, 'Size', size(m.size) + ' (' + num(m.size) + ' bytes)');
		dl(env, 'Received', when(m.receivedAt, true) + ' (' + (m.receivedAt || '') + ')');
		if (m.relay && m.relay.state) dl(env, 'Relay', m.relay.state + (m.relay.lastReply ? ': ' + m.relay.lastReply : ''));
		dl(env, 'Id', String(m.id));

		const an = clear($('m-anomalies'));
		for (const a of m.anomalies || []) an.append(el('li', { text: a }));
		if (!an.children.length) an.append(el('li', { className: 'muted', text: 'None: the message is well-formed.' }));
		setTabCount('anomalies', 'Anomalies', (m.anomalies || []).length);

		const at = clear($('m-attachments'));
		(m.attachments || []).forEach((a, i) => {
			const url = BASE + 'api/messages/' + m.id + '/attachments/' + i;
			const name = a.filename || 'attachment-' + i;
			const li = el('li', null,
				el('a', { href: url, download: name, text: name }),
				el('span', { className: 'muted', text: ' ' + (a.contentType || '') + ', ' + size(a.size) +
					(a.contentId ? ', cid ' + a.contentId : '') }));
			if (/^image\/(png|jpeg|gif|webp|bmp)$/i.test(a.contentType || ''))
				li.append(el('img', { src: url, alt: name, loading: 'lazy' }));
			at.append(li);
		});
		if (!at.children.length) at.append(el('li', { className: 'muted', text: 'No attachments.' }));
		setTabCount('attachments', 'Attachments', (m.attachments || []).length);

		$('m-raw').textContent = '';
		$('m-raw').dataset.id = '';
		$('t-html').classList.toggle('none', !m.htmlBody);
		$('t-text').classList.toggle('none', !m.textBody);
		renderHtml(m);
		const cur = TABS.find((t) => $('t-' + t).getAttribute('aria-selected') === 'true');
		selectTab(cur && cur !== 'html' && cur !== 'text' ? cur : (m.htmlBody ? 'html' : 'text'));
	}

	function setTabCount(tab, label, n) {
		const b = $('t-' + tab);
		b.textContent = n ? label + ' (' + n + ')' : label;
		b.classList.toggle('none', !n);
	}

	async function loadRaw(m) {
		const pre = $('m-raw');
		if (pre.dataset.id === String(m.id)) return;
		pre.dataset.id = String(m.id);
		pre.textContent = 'Loading…';
		try {
			const r = await fetch(BASE + 'api/messages/' + m.id + '/raw');
			if (!r.ok) throw new Error('raw: HTTP ' + r.status);
			const buf = await r.arrayBuffer();
			if (!st.open || st.open.id !== m.id) return;
			const text = new TextDecoder('utf-8').decode(buf.slice(0, RAW_SHOW));
			pre.textContent = buf.byteLength > RAW_SHOW ?
				text + '\n\n[… ' + size(buf.byteLength - RAW_SHOW) + ' more: download the .eml]' : text;
		} catch (e) {
			pre.textContent = '';
			pre.dataset.id = '';
			fail(e);
		}
	}

	function b64(buf) {
		const u = new Uint8Array(buf);
		let s = '';
		for (let i = 0; i < u.length; i += 0x8000)
			s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
		return btoa(s);
	}

	/* cid:<id> -> data: URL of the image part with that Content-ID ('' when none) */
	async function cidUrl(m, ref, cache) {
		const want = decodeURIComponent(ref.slice(4)).replace(/^<|>$/g, '').toLowerCase();
		if (cache.has(want)) return cache.get(want);
		let url = '';
		const atts = m.attachments || [];
		const i = atts.findIndex((a) => (a.contentId || '').replace(/^<|>$/g, '').toLowerCase() === want);
		if (i >= 0 && /^image\/[a-z0-9.+-]+$/i.test(atts[i].contentType || '')) {
			try {
				const r = await fetch(BASE + 'api/messages/' + m.id + '/attachments/' + i);
				if (r.ok) url = 'data:' + atts[i].contentType.toLowerCase() + ';base64,' + b64(await r.arrayBuffer());
			} catch (e) { /* shown as a broken image */ }
		}
		cache.set(want, url);
		return url;
	}

	/*
	 * The srcdoc for an HTML body. DOMParser builds an inert document (no
	 * script runs, no image loads); what could act without scripts (meta
	 * refresh, base) goes, links open outside the frame, and a CSP meta
	 * comes first. The iframe's sandbox stops scripts whatever is left.
	 */
	async function htmlDoc(m, remote) {
		const doc = new DOMParser().parseFromString(m.htmlBody, 'text/html');
		for (const n of doc.querySelectorAll('script, meta, base, object, embed, applet, frame, frameset, iframe, portal'))
			n.remove();
		const cache = new Map();
		for (const n of doc.querySelectorAll('[src], [background], [poster], [srcset]')) {
			for (const attr of ['src', 'background', 'poster', 'srcset']) {
				const v = n.getAttribute(attr);
				if (v != null && /^\s*cid:/i.test(v))
					n.setAttribute(attr, await cidUrl(m, v.trim(), cache));
			}
		}
		for (const a of doc.querySelectorAll('a[href], area[href]')) {
			a.setAttribute('target', '_blank');
			a.setAttribute('rel', 'noopener noreferrer');
		}
		const csp = doc.createElement('meta');
		csp.setAttribute('http-equiv', 'Content-Security-Policy');
		csp.setAttribute('content', "default-src 'none'; style-src 'unsafe-inline' data:; font-src data:; img-src data:" +
			(remote ? ' http: https:' : '') + "; form-action 'none'; base-uri 'none'");
		const ref = doc.createElement('meta');
		ref.setAttribute('name', 'referrer');
		ref.setAttribute('content', 'no-referrer');
		const cs = doc.createElement('meta');
		cs.setAttribute('charset', 'utf-8');
		doc.head.prepend(cs, csp, ref);
		return '<!DOCTYPE html>\n' + doc.documentElement.outerHTML;
	}

	async function renderHtml(m) {
		const f = $('m-frame');
		/* the attribute is in the markup; set again so no code path can lose it */
		f.setAttribute('sandbox', 'allow-popups allow-popups-to-escape-sandbox');
		if (!m.htmlBody) {
			f.srcdoc = '<!DOCTYPE html><meta charset="utf-8"><p>No HTML part.</p>';
			return;
		}
		const src = await htmlDoc(m, $('remote').checked);
		if (st.open && st.open.id === m.id) f.srcdoc = src;
	}

	async function deleteMessage(m) {
		try {
			const r = await fetch(BASE + 'api/v1/messages', {
				method: 'DELETE',
				headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({ IDs: [String(m.id)] }),
			});
			if (!r.ok) throw new Error('delete: ' + ((await r.text()) || r.statusText) + ' (' + r.status + ')');
		} catch (e) {
			fail(e);
			return;
		}
		const i = st.items.findIndex((x) => x.id === m.id);
		if (i >= 0) {
			st.items.splice(i, 1);
			st.total = Math.max(0, st.total - 1);
			if (st.sel >= st.items.length) st.sel = st.items.length - 1;
		}
		const wasOpen = st.open && st.open.id === m.id;
		renderList();
		toast('Deleted message ' + m.id, true);
		if (wasOpen) {
			const next = st.items[st.sel];
			if (next) location.hash = '#/messages/' + next.id; else closeMessage();
		}
		$('list').focus();
		if (!st.items.length && st.total > 0) loadPage(null);
	}

	async function clearMatching() {
		const all = Object.keys(st.filter).length === 0;
		const ok = await confirmBox(all ? 'Delete all ' + st.total + ' stored messages?' :
			'Delete the ' + st.total + ' messages matching the search?');
		if (!ok) return;
		try {
			const r = await rpc('Clear', { filter: st.filter });
			toast('Deleted ' + num(r.deleted) + ' message(s)', true);
		} catch (e) {
			fail(e);
		}
		if (st.open) closeMessage();
		loadPage(null);
	}

	/* --- rules --------------------------------------------------------- */

	async function loadRules() {
		let r;
		try { r = await rpc('ListRejectRules'); } catch (e) { fail(e); return; }
		const tb = clear($('rules'));
		for (const rule of r.rules || []) {
			const reply = num(rule.code) ? [rule.code, rule.enhancedCode, rule.message].filter(Boolean).join(' ') : '(normal reply)';
			const del = el('button', { type: 'button', className: 'danger', text: 'Delete', attrs: { 'aria-label': 'Delete rule ' + rule.id } });
			del.addEventListener('click', async () => {
				try { await rpc('DeleteRejectRule', { id: rule.id }); } catch (e) { fail(e); }
				loadRules();
			});
			tb.append(el('tr', null,
				el('td', { className: 'mono', text: rule.id || '' }),
				el('td', { text: rule.stage || '' }),
				el('td', { className: 'mono', text: rule.match || '(any)' }),
				el('td', { text: reply }),
				el('td', { text: num(rule.times) ? String(rule.times) : 'always' }),
				el('td', { text: num(rule.delayMs) ? rule.delayMs + ' ms' : '' }),
				el('td', { text: rule.disconnect ? 'yes' : '' }),
				el('td', { text: String(num(rule.hits)) }),
				el('td', null, del)));
		}
		$('norules').hidden = tb.children.length > 0;
		$('rules-clear').disabled = tb.children.length === 0;
	}

	async function addRule(ev) {
		ev.preventDefault();
		const f = ev.target;
		const rule = {
			stage: f.stage.value,
			match: f.match.value.trim(),
			code: num(f.code.value),
			enhancedCode: f.enhancedCode.value.trim(),
			message: f.message.value,
			times: num(f.times.value),
			delayMs: num(f.delayMs.value),
			disconnect: f.disconnect.checked,
		};
		try {
			const r = await rpc('SetRejectRule', rule);
			toast('Added rule ' + r.id, true);
		} catch (e) {
			fail(e);
		}
		loadRules();
	}

	/* --- server -------------------------------------------------------- */

	async function loadServer() {
		let s;
		try { s = await rpc('GetServerInfo'); } catch (e) { fail(e); return; }
		const d = clear($('info'));
		const list = (a) => (a || []).join(', ');
		dl(d, 'Version', s.version || '');
		dl(d, 'SMTP', list(s.smtpAddresses));
		if (s.smtpsAddresses) dl(d, 'SMTPS', list(s.smtpsAddresses));
		dl(d, 'gRPC', s.grpcAddress || 'off');
		dl(d, 'Extensions', list(s.extensions));
		dl(d, 'Max message size', size(s.maxMessageSize));
		dl(d, 'TLS', s.starttls || s.smtpsAddresses ? ['STARTTLS' + (s.starttls ? '' : ' off'), s.tlsMinVersion && 'min ' + s.tlsMinVersion,
			s.requireTls && 'required', s.tlsSelfSigned && 'self-signed'].filter(Boolean).join(', ') : 'off');
		dl(d, 'AUTH', s.authMechanisms ? list(s.authMechanisms) + (num(s.authUsers) ? ', ' + s.authUsers + ' users' : ', any credentials') +
			(s.requireAuth ? ', required' : '') + (s.authAllowInsecure ? ', allowed without TLS' : '') : 'off');
		if (s.relayUpstream) dl(d, 'Relay', s.relayUpstream + ' (' + (s.relayMode || '') + ')');
		const c = clear($('counters'));
		const names = {
			sessionsTotal: 'Sessions (total)', sessionsActive: 'Sessions (active)', messagesReceived: 'Messages received',
			messagesRejected: 'Messages rejected', messagesEvicted: 'Messages evicted', storedMessages: 'Stored messages',
			storedBytes: 'Stored bytes', lastId: 'Last id', rcptsRejected: 'Recipients rejected', bytesReceived: 'Bytes received',
			waiters: 'Waiters', grpcCalls: 'Control calls', relayQueued: 'Relay queued', relayRelayed: 'Relayed',
			relayFailed: 'Relay failed', relayAttempts: 'Relay attempts',
		};
		const cs = s.counters || {};
		for (const [k, label] of Object.entries(names)) kvRow(c, label, String(num(cs[k])));
	}

	/* --- routing and keys ---------------------------------------------- */

	function route() {
		const h = location.hash.replace(/^#\/?/, '');
		const [view, arg] = h.split('/');
		st.view = ['rules', 'server'].includes(view) ? view : 'messages';
		for (const v of ['messages', 'rules', 'server']) {
			$('view-' + v).hidden = v !== st.view;
			const a = $('nav-' + v);
			if (v === st.view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
		}
		clearInterval(st.serverTimer);
		if (st.view === 'rules') loadRules();
		if (st.view === 'server') {
			loadServer();
			st.serverTimer = setInterval(loadServer, 2000);
		}
		if (st.view === 'messages' && arg && /^\d+$/.test(arg) && (!st.open || st.open.id !== arg))
			openMessage(arg);
	}

	function typing(t) {
		return t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName));
	}

	function onKey(e) {
		if (e.ctrlKey || e.metaKey || e.altKey || $('confirm').open) return;
		const t = e.target;
		if (typing(t)) {
			if (e.key === 'Escape') t.blur();
			return;
		}
		if (e.key === '/' && st.view === 'messages') {
			e.preventDefault();
			$('f-subject').focus();
			$('f-subject').select();
			return;
		}
		if (t.getAttribute && t.getAttribute('role') === 'tab' && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) {
			const i = TABS.indexOf(t.id.slice(2)) + (e.key === 'ArrowRight' ? 1 : -1);
			selectTab(TABS[(i + TABS.length) % TABS.length], true);
			e.preventDefault();
			return;
		}
		if (st.view !== 'messages') return;
		const onList = t === document.body || t === $('list');
		const cur = st.items[st.sel];
		switch (e.key) {
		case 'j': move(1); break;
		case 'k': move(-1); break;
		case 'ArrowDown': if (!onList) return; move(1); break;
		case 'ArrowUp': if (!onList) return; move(-1); break;
		case 'Home': if (!onList) return; move(-st.items.length); break;
		case 'End': if (!onList) return; move(st.items.length); break;
		case 'Enter':
			if (!onList || !cur) return;
			location.hash = '#/messages/' + cur.id;
			break;
		case 'Delete': {
			const m = st.open || cur;
			if (!m) return;
			deleteMessage(m);
			break;
		}
		case 'Escape': if (!st.open) return; closeMessage(); break;
		case 'r': loadPage(null, true); break;
		default: return;
		}
		e.preventDefault();
	}

	function applyTheme(t) {
		if (t) document.documentElement.dataset.theme = t; else delete document.documentElement.dataset.theme;
		const dark = t ? t === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
		$('theme').textContent = dark ? '☀ Light' : '☾ Dark';
		$('theme').setAttribute('aria-label', dark ? 'Switch to the light theme' : 'Switch to the dark theme');
	}

	function init() {
		let saved = null;
		try { saved = localStorage.getItem('smtpsink-theme'); } catch (e) { /* storage off */ }
		applyTheme(saved);
		$('theme').addEventListener('click', () => {
			const dark = document.documentElement.dataset.theme ? document.documentElement.dataset.theme === 'dark' :
				matchMedia('(prefers-color-scheme: dark)').matches;
			const t = dark ? 'light' : 'dark';
			try { localStorage.setItem('smtpsink-theme', t); } catch (e) { /* storage off */ }
			applyTheme(t);
		});

		$('search').addEventListener('submit', (e) => {
			e.preventDefault();
			st.filter = readFilter();
			st.pending = 0;
			loadPage(null).then(connectEvents);
		});
		$('f-reset').addEventListener('click', () => {
			$('search').reset();
			$('search').requestSubmit();
		});
		$('clear').addEventListener('click', clearMatching);
		$('newer').addEventListener('click', loadNewer);
		$('older').addEventListener('click', loadOlder);
		$('refresh').addEventListener('click', () => loadPage(null, true));
		$('pending').addEventListener('click', () => loadPage(null));
		$('list').addEventListener('click', (e) => {
			const li = e.target.closest('li[data-i]');
			if (!li) return;
			st.sel = Number(li.dataset.i);
			markSel(false);
			location.hash = '#/messages/' + st.items[st.sel].id;
		});
		$('m-close').addEventListener('click', closeMessage);
		$('m-delete').addEventListener('click', () => { if (st.open) deleteMessage(st.open); });
		$('remote').addEventListener('change', () => { if (st.open) renderHtml(st.open); });
		for (const t of TABS) $('t-' + t).addEventListener('click', () => selectTab(t));
		$('ruleform').addEventListener('submit', addRule);
		$('rules-clear').addEventListener('click', async () => {
			if (!(await confirmBox('Delete all reject rules?'))) return;
			try { await rpc('DeleteRejectRule', {}); } catch (e) { fail(e); }
			loadRules();
		});
		document.addEventListener('keydown', onKey);
		window.addEventListener('hashchange', route);
		selectTab('html');
		if (!location.hash) history.replaceState(null, '', '#/messages');
		searchFromQuery();
		route();
		loadPage(null).then(connectEvents);
	}

	init();
})();
