/* leadflow website snippet, served by the collector at /v1/snippet.js.
 *
 *   <script async src="https://collector.example.com/v1/snippet.js"
 *           data-key="lf_website_..." data-source="/web/www.example.com"></script>
 *   <form data-leadflow-form="newsletter"> <input type="email" name="email"> ... </form>
 *
 * On every page load it sends one `web.visit` (URL, referrer, utm_source / utm_medium / utm_campaign) with
 * navigator.sendBeacon; on the submission of a form marked `data-leadflow-form` it sends `web.form_submitted`,
 * tying the visitor to the lead. The lead id is the form's `data-leadflow-lead-id` (or a field named
 * `leadflow_lead_id`) if the site knows it, else "web-" + the first 32 hex digits of SHA-256 of the
 * lower-cased e-mail address; the address itself is not sent.
 *
 * Privacy: one first-party cookie, `lf_vid` (the visitor id), and no other; with Do Not Track or Global Privacy
 * Control on, it sets nothing and sends nothing. The key in `data-key` is public by nature: give it a grant that
 * allows only web events from your sources and origins (see docs/collector.md).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var COOKIE = "lf_vid";
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2
  ];

  function doNotTrack() {
    var dnt = navigator.doNotTrack || window.doNotTrack || navigator.msDoNotTrack;
    return dnt === "1" || dnt === "yes" || navigator.globalPrivacyControl === true;
  }

  if (!script || doNotTrack()) {
    window.leadflow = { enabled: false, reason: script ? "do-not-track" : "no-script-element" };
    return;
  }

  var key = script.getAttribute("data-key") || "";
  var source = script.getAttribute("data-source") || "/web/" + location.hostname;
  var endpoint = script.getAttribute("data-endpoint") || new URL("/v1/events", script.src).href;
  var target = endpoint + (endpoint.indexOf("?") < 0 ? "?" : "&") + "key=" + encodeURIComponent(key);

  function hex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += ("0" + bytes[i].toString(16)).slice(-2);
    return out;
  }

  function randomId() {
    return hex(crypto.getRandomValues(new Uint8Array(16)));
  }

  // Synchronous SHA-256 (FIPS 180-4): crypto.subtle is async and missing on plain-http pages, and a submit
  // handler cannot wait for a promise before the browser leaves the page.
  function sha256Hex(text) {
    var bytes = new TextEncoder().encode(text);
    var words = new Array((((bytes.length + 8) >> 6) + 1) * 16).fill(0);
    for (var i = 0; i < bytes.length; i++) words[i >> 2] |= bytes[i] << (24 - (i % 4) * 8);
    words[bytes.length >> 2] |= 0x80 << (24 - (bytes.length % 4) * 8);
    words[words.length - 1] = bytes.length * 8;
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var w = new Array(64);
    function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }
    for (var j = 0; j < words.length; j += 16) {
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (var t = 0; t < 64; t++) {
        if (t < 16) {
          w[t] = words[j + t] | 0;
        } else {
          var s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
          var s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
          w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
        }
        var t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h = [h[0] + a, h[1] + b, h[2] + c, h[3] + d, h[4] + e, h[5] + f, h[6] + g, h[7] + k].map(function (x) { return x | 0; });
    }
    return h.map(function (x) { return ("0000000" + (x >>> 0).toString(16)).slice(-8); }).join("");
  }

  function visitorId() {
    var match = document.cookie.match(/(?:^|;\s*)lf_vid=([0-9a-f]{32})(?:;|$)/);
    var id = match ? match[1] : randomId();
    var cookie = COOKIE + "=" + id + "; Max-Age=34560000; Path=/; SameSite=Lax";
    if (location.protocol === "https:") cookie += "; Secure";
    if (script.getAttribute("data-cookie-domain")) cookie += "; Domain=" + script.getAttribute("data-cookie-domain");
    document.cookie = cookie; // renewed on every visit: the id lives 400 days after the last one
    return id;
  }

  var visitor = visitorId();

  function send(type, subject, data) {
    var event = {
      specversion: "1.0",
      id: crypto.randomUUID ? crypto.randomUUID() : randomId(),
      source: source,
      type: type,
      time: new Date().toISOString(),
      subject: subject,
      data: data
    };
    var body = JSON.stringify(event); // a string is sent as text/plain: no CORS preflight
    if (!(navigator.sendBeacon && navigator.sendBeacon(target, body))) {
      fetch(target, { method: "POST", body: body, keepalive: true, mode: "no-cors", credentials: "omit" });
    }
    return event;
  }

  function visit() {
    var params = new URLSearchParams(location.search);
    var data = { visitor_id: visitor, url: location.href };
    if (document.referrer) data.referrer = document.referrer;
    ["utm_source", "utm_medium", "utm_campaign"].forEach(function (name) {
      if (params.get(name)) data[name] = params.get(name);
    });
    return send("web.visit", visitor, data);
  }

  function leadIdOf(form) {
    var given = form.getAttribute("data-leadflow-lead-id") || (form.elements.leadflow_lead_id || {}).value;
    if (given) return given;
    var email = form.querySelector("input[type=email], input[name=email]");
    var address = email && email.value.trim().toLowerCase();
    return address ? "web-" + sha256Hex(address).slice(0, 32) : null;
  }

  function onSubmit(submitted) {
    var form = submitted.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-leadflow-form")) return;
    var lead = leadIdOf(form);
    if (!lead) return;
    var formId = form.getAttribute("data-leadflow-form") || form.id || "form";
    send("web.form_submitted", lead, { visitor_id: visitor, lead_id: lead, form_id: formId });
  }

  document.addEventListener("submit", onSubmit, true);
  window.leadflow = { enabled: true, visitorId: visitor, visit: visit(), sha256Hex: sha256Hex };
})();
