/*!
 * whodid browser tracker (km.js) — Kissmetrics-compatible _kmq queue.
 * Plain ES5, no dependencies. See docs/tracker.md.
 *
 * Page setup:  var _kmq = _kmq || []; var _kmk = _kmk || '<writeKey>';
 * Optional:    var _kmh = 'https://analytics.example.com';  (endpoint base)
 */
(function (window, document) {
  'use strict';

  // Loaded twice? Keep the first instance.
  if (window._kmq && window._kmq.__whodid) { return; }

  var VISIT_SECONDS = 30 * 60;
  var ID_SECONDS = 2 * 365 * 24 * 60 * 60;
  var C_ANON = 'km_ai', C_NAMED = 'km_ni', C_VISIT = 'km_vs';
  var RESERVED = { _k: 1, _p: 1, _n: 1, _t: 1, _d: 1 };
  // Identities the server refuses for identify/alias (they would squash people together).
  var BAD_IDS = /^(anonymous|null|undefined|none|nil|0|-1|guest|true|false|nan|\[object object\]|distinct_id|id|email|not_authenticated)$/i;

  var mem = {};      // fallback when cookies are unavailable
  var pending = [];  // image pings kept alive until they finish

  function warn(e) {
    try { if (window.console && console.warn) { console.warn('[whodid km.js]', e); } } catch (ignore) {}
  }

  // Run fn(args...) and never let an error reach the page.
  function safe(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) { warn(e); }
    };
  }

  function now() { return Math.floor(new Date().getTime() / 1000); }

  // ---------------------------------------------------------------- cookies

  function getCookie(name) {
    var parts, i, kv;
    try { parts = (document.cookie || '').split(/;\s*/); } catch (e) { return mem[name] || null; }
    for (i = 0; i < parts.length; i++) {
      kv = parts[i].split('=');
      if (kv[0] === name) {
        try { return decodeURIComponent(kv.slice(1).join('=')); } catch (e2) { return null; }
      }
    }
    return mem[name] || null;
  }

  function setCookie(name, value, seconds) {
    if (value === null) { delete mem[name]; } else { mem[name] = value; }
    var exp = new Date(new Date().getTime() + seconds * 1000);
    var c = name + '=' + (value === null ? '' : encodeURIComponent(value)) +
      '; expires=' + exp.toUTCString() + '; max-age=' + seconds + '; path=/; SameSite=Lax';
    if (window.location.protocol === 'https:') { c += '; Secure'; }
    try { document.cookie = c; } catch (e) { /* cookies blocked: memory only */ }
  }

  function delCookie(name) { setCookie(name, null, 0); }

  // --------------------------------------------------------------- identity

  function newId() {
    var b = [], i, hex = '', c = window.crypto || window.msCrypto;
    if (c && c.getRandomValues) {
      var a = new Uint8Array(16);
      c.getRandomValues(a);
      for (i = 0; i < 16; i++) { b.push(a[i]); }
    } else {
      for (i = 0; i < 16; i++) { b.push(Math.floor(Math.random() * 256)); }
    }
    b[6] = (b[6] & 0x0f) | 0x40; // UUID v4 layout
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i = 0; i < 16; i++) {
      hex += (b[i] < 16 ? '0' : '') + b[i].toString(16);
      if (i === 3 || i === 5 || i === 7 || i === 9) { hex += '-'; }
    }
    return hex;
  }

  function anonId() {
    var v = getCookie(C_ANON);
    if (!v) { v = newId(); setCookie(C_ANON, v, ID_SECONDS); }
    return v;
  }

  function namedId() { return getCookie(C_NAMED); }

  function identity() { return namedId() || anonId(); }

  function validId(v) {
    if (v === null || v === undefined || typeof v === 'object' || typeof v === 'function') { return null; }
    v = String(v).replace(/^\s+|\s+$/g, '');
    if (!v || BAD_IDS.test(v)) { return null; }
    return v;
  }

  // ---------------------------------------------------------------- sending

  function base() {
    var h = window._kmh;
    if (h) {
      h = String(h).replace(/\/+$/, '');
      if (!/^(https?:)?\/\//i.test(h)) { h = window.location.protocol + '//' + h; }
      return h;
    }
    return scriptBase;
  }

  // The directory km.js was served from (its origin when served at /km.js).
  function findScriptBase() {
    var s = document.currentScript, list, i, src;
    if (!s || !/\/km\.js([?#].*)?$/.test(s.src || '')) {
      s = null;
      list = document.getElementsByTagName('script');
      for (i = list.length - 1; i >= 0; i--) {
        if (/\/km\.js([?#].*)?$/.test(list[i].src || '')) { s = list[i]; break; }
      }
    }
    src = s && s.src;
    if (!src || !/^https?:\/\//i.test(src)) { return ''; } // same origin
    return src.replace(/[?#].*$/, '').replace(/\/km\.js$/, '');
  }

  function stringify(v) {
    if (v === null || v === undefined || typeof v === 'function') { return null; }
    if (v instanceof Date) { return isNaN(v.getTime()) ? null : v.toISOString(); }
    if (typeof v === 'object') {
      try { return JSON.stringify(v); } catch (e) { return String(v); }
    }
    return String(v);
  }

  function encode(params) {
    var out = [], k;
    for (k in params) {
      if (Object.prototype.hasOwnProperty.call(params, k)) {
        out.push(encodeURIComponent(k) + '=' + encodeURIComponent(params[k]));
      }
    }
    return out.join('&');
  }

  function touchVisit() { setCookie(C_VISIT, String(now()), VISIT_SECONDS); }

  // path: '/e' | '/s' | '/a'; extra: {_n: ...}; props: user properties.
  function send(path, extra, props, callback) {
    var params = { _k: window._kmk || '', _p: extra._p || identity(), _t: now(), _d: 1 };
    var k, v, body, url, done = false, img;
    if (extra._n !== undefined) { params._n = extra._n; }
    if (props && typeof props === 'object') {
      for (k in props) {
        if (Object.prototype.hasOwnProperty.call(props, k) && !RESERVED[k]) {
          v = stringify(props[k]);
          if (v !== null) { params[k] = v; }
        }
      }
    }
    touchVisit();
    body = encode(params);
    url = base() + path;

    function finish() {
      if (done) { return; }
      done = true;
      if (typeof callback === 'function') { safe(callback)(); }
    }

    try {
      if (navigator.sendBeacon && window.Blob &&
          navigator.sendBeacon(url, new Blob([body], { type: 'application/x-www-form-urlencoded' }))) {
        setTimeout(finish, 0);
        return;
      }
    } catch (e) { /* fall back to an image ping */ }

    img = new Image(1, 1);
    pending.push(img);
    img.onload = img.onerror = function () {
      var i = pending.indexOf(img);
      if (i >= 0) { pending.splice(i, 1); }
      finish();
    };
    setTimeout(finish, 300);
    img.src = url + '?' + body;
  }

  // --------------------------------------------------------------- commands

  function record(name, props, callback) {
    if (typeof props === 'function') { callback = props; props = null; }
    name = stringify(name);
    if (!name) { if (typeof callback === 'function') { setTimeout(safe(callback), 0); } return; }
    send('/e', { _n: name }, props, callback);
  }

  function set(props, callback) {
    if (!props || typeof props !== 'object') { return; }
    send('/s', {}, props, callback);
  }

  function identify(userId) {
    var id = validId(userId), current = namedId(), anon;
    if (!id || id === current) { return; }
    if (current) {
      // Another user on a shared browser: start a fresh anonymous id so the
      // two users' histories are never linked together.
      delCookie(C_NAMED);
      setCookie(C_ANON, newId(), ID_SECONDS);
    }
    anon = anonId();
    if (id === anon) { return; }
    setCookie(C_NAMED, id, ID_SECONDS);
    send('/a', { _p: anon, _n: id }, null);
  }

  function alias(a, b) {
    a = validId(a); b = validId(b);
    if (!a || !b || a === b) { return; }
    send('/a', { _p: a, _n: b }, null);
  }

  function clearIdentity() {
    delCookie(C_NAMED);
    setCookie(C_ANON, newId(), ID_SECONDS);
  }

  // ------------------------------------------------------- DOM auto-tracking

  function matchesSel(el, sel) {
    var m = el.matches || el.msMatchesSelector || el.webkitMatchesSelector;
    if (!m) { return false; }
    try { return m.call(el, sel); } catch (e) { return false; }
  }

  // Target spec: element id, CSS selector, element, or array/NodeList of elements.
  function matcher(target) {
    if (typeof target === 'string') {
      var id = target.charAt(0) === '#' ? target.slice(1) : target;
      return function (el) { return el.id === id || matchesSel(el, target); };
    }
    if (target && target.nodeType === 1) {
      return function (el) { return el === target; };
    }
    if (target && typeof target.length === 'number') {
      return function (el) {
        for (var i = 0; i < target.length; i++) { if (target[i] === el) { return true; } }
        return false;
      };
    }
    return function () { return false; };
  }

  function closestMatch(el, test) {
    while (el && el.nodeType === 1) {
      if (test(el)) { return el; }
      el = el.parentNode;
    }
    return null;
  }

  function evalProps(props, el) {
    if (typeof props === 'function') { try { return props(el); } catch (e) { warn(e); return null; } }
    return props;
  }

  function merge(a, b) {
    var out = {}, k;
    if (a) { for (k in a) { if (Object.prototype.hasOwnProperty.call(a, k)) { out[k] = a[k]; } } }
    if (b && typeof b === 'object') { for (k in b) { if (Object.prototype.hasOwnProperty.call(b, k)) { out[k] = b[k]; } } }
    return out;
  }

  function listen(type, target, handler) {
    var test = matcher(target);
    document.addEventListener(type, safe(function (e) {
      var el = closestMatch(e.target, test);
      if (el) { handler(el, e); }
    }), true);
  }

  function trackClick(target, name, props) {
    listen('click', target, function (el) {
      record(name, evalProps(props, el));
    });
  }

  function trackClickOnOutboundLink(target, name, props) {
    listen('click', target, function (el, e) {
      var link = closestMatch(el, function (x) { return x.tagName === 'A' || x.tagName === 'AREA'; });
      var href = link && link.href, tgt = link && (link.getAttribute('target') || '');
      var follow = href && !e.defaultPrevented && !e.ctrlKey && !e.metaKey && !e.shiftKey && !e.altKey &&
        (e.button === undefined || e.button === 0) && (!tgt || tgt === '_self') &&
        !link.hasAttribute('download') && !/^(javascript:|#)/i.test(link.getAttribute('href') || '');
      if (!follow) { record(name, evalProps(props, el)); return; }
      e.preventDefault();
      var gone = false;
      var go = function () { if (!gone) { gone = true; window.location.href = href; } };
      setTimeout(go, 300);
      record(name, evalProps(props, el), go);
    });
  }

  // ---- form capture (trackSubmit): never send secrets.

  var SECRET_NAME = new RegExp([
    'pass(w|phrase|code)', 'pwd', '(^|[^a-z])pass([^a-z]|$)', 'secret', 'token', 'csrf', 'xsrf', 'nonce',
    'authenticity', 'api[-_ ]?key', '(^|[^a-z])otp($|[^a-z])', 'one[-_ ]?time', '2fa', 'mfa',
    // payment cards
    'card', '(^|[^a-z])cc($|[^a-z])', 'cc[-_ ]?(num|no|nr|number|exp|csc|cvv|cvc|name|type)', 'ccn',
    '(^|[^a-z])pan($|[^a-z])', 'cvv', 'cvc', 'cvn', 'cv2', 'csc', '(^|[^a-z])cid($|[^a-z])',
    'security[-_ ]?(code|number|no)', 'verification[-_ ]?(code|value|number)', 'cardholder',
    // expiry
    'expir', '(^|[^a-z])exp($|[^a-z])', 'exp[-_ ]?(date|month|year|mm|yy|m|y)($|[^a-z])',
    '(^|[^a-z])(mm|yy|yyyy)($|[^a-z])', 'valid[-_ ]?(thru|until|through)',
    // national ids
    'ssn', 'social[-_ ]?sec', 'socsec', 'sozialversicherung', 'national[-_ ]?(id|insurance|number)',
    'tax[-_ ]?(id|number|no)', '(^|[^a-z])(sin|tin|nin|nino|itin|ein)($|[^a-z])', 'passport',
    // bank accounts and pins
    'iban', 'routing', 'account[-_ ]?(number|num|no|nr)', 'bank[-_ ]?(account|acct)', 'sort[-_ ]?code',
    '(^|[^a-z])pin($|[^a-z])', 'pin[-_ ]?(code|number|no)'
  ].join('|'), 'i');

  function luhn(digits) {
    var sum = 0, alt = false, i, d;
    for (i = digits.length - 1; i >= 0; i--) {
      d = +digits.charAt(i);
      if (alt) { d *= 2; if (d > 9) { d -= 9; } }
      sum += d; alt = !alt;
    }
    return sum % 10 === 0;
  }

  function secretValue(v) {
    var digits = v.replace(/[\s-]/g, '');
    if (/^\d{13,19}$/.test(digits) && luhn(digits)) { return true; } // looks like a card number
    return /^\s*\d{3}-\d{2}-\d{4}\s*$/.test(v);                      // looks like a US SSN
  }

  function skipField(el) {
    var type = (el.type || '').toLowerCase();
    var cls = ' ' + (el.className || '') + ' ';
    if (el.disabled || /^(password|file|submit|button|reset|image)$/.test(type)) { return true; }
    if (el.hasAttribute && el.hasAttribute('data-km-ignore')) { return true; }
    if (cls.indexOf(' km_ignore ') >= 0 || cls.indexOf(' km-ignore ') >= 0) { return true; }
    var hay = [el.name || '', el.id || '', el.getAttribute('autocomplete') || '']
      .join(' ').replace(/([a-z])([A-Z])/g, '$1_$2');
    if (SECRET_NAME.test(hay)) { return true; }
    if (/(^|\s)(cc-|new-password|current-password|one-time-code)/i.test(el.getAttribute('autocomplete') || '')) { return true; }
    if ((type === 'checkbox' || type === 'radio') && !el.checked) { return true; }
    return false;
  }

  function formProps(form) {
    var out = {}, els = form.elements || [], i, j, el, key, vals, v, tag;
    for (i = 0; i < els.length; i++) {
      el = els[i];
      tag = (el.tagName || '').toUpperCase();
      if (tag !== 'INPUT' && tag !== 'SELECT' && tag !== 'TEXTAREA') { continue; }
      key = el.name || el.id;
      if (!key || RESERVED[key] || skipField(el)) { continue; }
      vals = [];
      if (tag === 'SELECT' && el.multiple) {
        for (j = 0; j < el.options.length; j++) { if (el.options[j].selected) { vals.push(el.options[j].value); } }
      } else {
        vals.push(el.value);
      }
      for (j = 0; j < vals.length; j++) {
        v = vals[j];
        if (v === '' || v === null || v === undefined || secretValue(String(v))) { continue; }
        out[key] = Object.prototype.hasOwnProperty.call(out, key) ? out[key] + ', ' + v : String(v);
      }
    }
    return out;
  }

  function trackSubmit(target, name, props) {
    listen('submit', target, function (el, e) {
      var form = e.target && e.target.tagName === 'FORM' ? e.target : el;
      if (form.tagName !== 'FORM') { return; }
      record(name, merge(formProps(form), evalProps(props, form)));
    });
  }

  // ------------------------------------------------------ automatic events

  function queryParam(query, names) {
    var parts = (query || '').replace(/^[?#]/, '').split('&'), i, j, kv, k;
    for (j = 0; j < names.length; j++) {
      for (i = 0; i < parts.length; i++) {
        kv = parts[i].split('=');
        try { k = decodeURIComponent(kv[0]); } catch (e) { k = kv[0]; }
        if (k === names[j]) {
          var v = kv.slice(1).join('=').replace(/\+/g, ' ');
          try { return decodeURIComponent(v); } catch (e2) { return v; }
        }
      }
    }
    return null;
  }

  // [name, host pattern, query parameters]
  var ENGINES = [
    ['google', /(^|\.)google\.[a-z]{2,3}(\.[a-z]{2})?$/, ['q', 'as_q']],
    ['bing', /(^|\.)bing\.com$/, ['q']],
    ['yahoo', /(^|\.)yahoo\.(com|co\.jp|[a-z]{2,3}(\.[a-z]{2})?)$/, ['p', 'q']],
    ['duckduckgo', /(^|\.)duckduckgo\.com$/, ['q']],
    ['baidu', /(^|\.)baidu\.com$/, ['wd', 'word', 'kw']],
    ['yandex', /(^|\.)(yandex\.[a-z.]+|ya\.ru)$/, ['text']],
    ['ecosia', /(^|\.)ecosia\.org$/, ['q']],
    ['qwant', /(^|\.)qwant\.com$/, ['q']],
    ['startpage', /(^|\.)startpage\.com$/, ['query', 'q']],
    ['brave', /^search\.brave\.com$/, ['q']],
    ['aol', /(^|\.)search\.aol\.[a-z.]+$/, ['q', 'query']],
    ['ask', /(^|\.)ask\.com$/, ['q']],
    ['naver', /(^|\.)naver\.com$/, ['query']],
    ['seznam', /(^|\.)seznam\.cz$/, ['q']],
    ['sogou', /(^|\.)sogou\.com$/, ['query']],
    ['so.com', /(^|\.)so\.com$/, ['q']],
    ['daum', /(^|\.)daum\.net$/, ['q']],
    ['kagi', /(^|\.)kagi\.com$/, ['q']],
    ['mojeek', /(^|\.)mojeek\.com$/, ['q']]
  ];
  // Hosts of those brands that are not a search results page.
  var NOT_SEARCH = /^(mail|docs|drive|accounts|calendar|maps|map|play|news|finance|sports|login|tieba)\./;

  function searchHit(referrer) {
    var m = /^https?:\/\/([^\/?#:]+)[^?#]*(\?[^#]*)?/i.exec(referrer || ''), host, i, q;
    if (!m) { return null; }
    host = m[1].toLowerCase();
    if (host === window.location.hostname.toLowerCase() || NOT_SEARCH.test(host)) { return null; }
    for (i = 0; i < ENGINES.length; i++) {
      if (ENGINES[i][1].test(host)) {
        q = queryParam(m[2], ENGINES[i][2]);
        return { 'Search Engine': ENGINES[i][0], 'Search Terms': q || '' };
      }
    }
    return null;
  }

  var UTM = [['utm_source', 'Campaign Source'], ['utm_medium', 'Campaign Medium'],
    ['utm_campaign', 'Campaign Name'], ['utm_term', 'Campaign Terms'], ['utm_content', 'Campaign Content']];

  function autoTrack(newVisit) {
    var loc = window.location, ref = document.referrer || '', props, i, v, found = false, s;
    if (newVisit) {
      props = { URL: loc.href };
      if (ref) { props.Referrer = ref; }
      record('Visited Site', props);
    }
    props = {};
    for (i = 0; i < UTM.length; i++) {
      v = queryParam(loc.search, [UTM[i][0]]);
      if (v !== null && v !== '') { props[UTM[i][1]] = v; found = true; }
    }
    if (found) {
      record('Ad Campaign Hit', props);
      set(props);
    }
    s = searchHit(ref);
    if (s) { record('Search Engine Hit', s); }
  }

  // ------------------------------------------------------------------ queue

  var COMMANDS = {
    record: record,
    set: set,
    identify: identify,
    alias: alias,
    clearIdentity: clearIdentity,
    trackClick: trackClick,
    trackSubmit: trackSubmit,
    trackClickOnOutboundLink: trackClickOnOutboundLink
  };

  function run(cmd) {
    if (typeof cmd === 'function') { cmd(); return; }
    if (!cmd || typeof cmd.length !== 'number') { return; }
    var fn = COMMANDS[cmd[0]];
    if (!fn) { warn('unknown command ' + cmd[0]); return; }
    fn.apply(null, Array.prototype.slice.call(cmd, 1));
  }

  var scriptBase = '';
  var init = safe(function () {
    scriptBase = findScriptBase();
    var queued = window._kmq && typeof window._kmq.length === 'number' ? window._kmq : [];
    var newVisit = !getCookie(C_VISIT);

    // Refresh the long-lived identity cookies and the sliding visit cookie.
    setCookie(C_ANON, anonId(), ID_SECONDS);
    if (namedId()) { setCookie(C_NAMED, namedId(), ID_SECONDS); }
    touchVisit();

    var q = {
      __whodid: true,
      push: function () {
        for (var i = 0; i < arguments.length; i++) { safe(run)(arguments[i]); }
        return 0;
      }
    };
    window._kmq = q;

    window.KM = {
      record: safe(record),
      set: safe(set),
      identify: safe(identify),
      alias: safe(alias),
      clearIdentity: safe(clearIdentity),
      trackClick: safe(trackClick),
      trackSubmit: safe(trackSubmit),
      trackClickOnOutboundLink: safe(trackClickOnOutboundLink),
      i: safe(identity)
    };

    // Replay what the page queued before we loaded, then the automatic events
    // (so an identify queued early also applies to them).
    for (var i = 0; i < queued.length; i++) { safe(run)(queued[i]); }
    safe(autoTrack)(newVisit);
  });

  init();
})(window, document);
