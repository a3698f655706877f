// The console's live parts: SLA clocks counting down, and the part of a page marked
// data-refresh (the ticket list, a ticket's timeline, the wall) refreshed every few
// seconds: the server renders it, this swaps it in.  Countdowns run on the server's
// clock, not the browser's: a wall PC whose clock is off by an hour still shows the
// deadlines right (the page says the server's time; each refresh's Date header too).
//
// ECMAScript 5 on purpose (var, functions, XMLHttpRequest): the wall PCs and desks of a
// government network run old browsers (IE 11, 360 in IE mode).  A test parses this file
// with an ES5-only parser; the times it reads are ES5's format (…T08:00:00.000Z).
"use strict";

var skew = 0;  // the server's clock less this browser's, in ms

function learnSkew(serverTime) {
  var t = Date.parse(serverTime);
  if (!isNaN(t)) { skew = t - new Date().getTime(); }
}

function two(n) { return (n < 10 ? "0" : "") + n; }

function span(ms) {
  var late = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
  var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  var text = (d ? d + "d " : "") + two(h) + ":" + two(m) + ":" + two(s % 60);
  return (late ? "超时 " : "剩 ") + text;
}

function tick() {
  var now = new Date().getTime() + skew;
  var els = document.querySelectorAll(".countdown[data-deadline]");
  for (var i = 0; i < els.length; i++) {
    var ms = Date.parse(els[i].getAttribute("data-deadline")) - now;
    els[i].textContent = span(ms);
    if (ms < 0) { els[i].className += els[i].className.indexOf(" over") < 0 ? " over" : ""; }
    else { els[i].className = els[i].className.replace(" over", ""); }
  }
}

function refresh(section) {
  var request = new XMLHttpRequest();
  request.open("GET", section.getAttribute("data-refresh"));
  request.onload = function () {
    // a session that ran out is redirected to the login page: keep what is shown
    if (request.status !== 200 || /\/login/.test(request.responseURL || "") ||
        /<form[^>]*class="login"/.test(request.responseText)) { return; }
    var date = request.getResponseHeader("Date");  // whole seconds: +0.5 s on average
    if (date) { skew = Date.parse(date) + 500 - new Date().getTime(); }
    section.innerHTML = request.responseText;
    section.setAttribute("data-updated", String(new Date().getTime()));
    tick();
  };
  request.send();  // a failure: the next round tries again
}

document.addEventListener("DOMContentLoaded", function () {
  var meta = document.querySelector('meta[name="server-now"]');
  if (meta) { learnSkew(meta.getAttribute("content")); }
  tick();
  setInterval(tick, 1000);
  var list = document.querySelector("[data-refresh]");
  if (list) { setInterval(function () { refresh(list); }, 5000); }
});
