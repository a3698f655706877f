// The console's live parts: SLA clocks counting down, and the part of a page marked
// data-refresh (the ticket list, a ticket's timeline, the wall) refreshed every few
// seconds: the server renders it, this swaps it in.  Countdowns run on the server's
// clock, not the browser's: a wall PC whose clock is off by an hour still shows the
// deadlines right (the page says the server's time; each refresh's Date header too).
"use strict";

let skew = 0;  // the server's clock less this browser's, in ms

function learnSkew(serverTime) {
  const t = Date.parse(serverTime);
  if (!isNaN(t)) skew = t - Date.now();
}

function span(ms) {
  const late = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  const text = (d ? d + "d " : "") + String(h).padStart(2, "0") + ":" +
    String(m).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  return late ? "超时 " + text : "剩 " + text;
}

function tick() {
  const now = Date.now() + skew;
  for (const el of document.querySelectorAll(".countdown[data-deadline]")) {
    const ms = Date.parse(el.dataset.deadline) - now;
    el.textContent = span(ms);
    el.classList.toggle("over", ms < 0);
  }
}

async function refresh(section) {
  try {
    const reply = await fetch(section.dataset.refresh, {credentials: "same-origin"});
    if (reply.ok && !reply.redirected) {
      const date = reply.headers.get("Date");  // whole seconds: +0.5 s on average
      if (date) skew = Date.parse(date) + 500 - Date.now();
      section.innerHTML = await reply.text();
      section.dataset.updated = String(Date.now());
      tick();
    }
  } catch (e) { /* the next round tries again */ }
}

document.addEventListener("DOMContentLoaded", () => {
  const meta = document.querySelector('meta[name="server-now"]');
  if (meta) learnSkew(meta.content);
  tick();
  setInterval(tick, 1000);
  const list = document.querySelector("[data-refresh]");
  if (list) setInterval(() => refresh(list), 5000);
});
