// Live countdowns on the breach desk (issue 12 §6). The page is rendered with each running deadline's text
// already in place (it works without JavaScript); this keeps it true while the page stays open: every element
// with data-due (an ISO instant) is rewritten each 15 s in the words of dsr.breach_console.describe_left, and
// the nearest [data-urgency] element gets "overdue" / "at-risk" as the deadline passes those marks.
// Time is the server's: the offset between the server's clock at render (data-now on this script) and the
// browser's clock is kept, so a wrong clock on the operator's machine does not move a legal deadline.
(function () {
  "use strict";
  var me = document.currentScript;
  var serverNow = Date.parse(me.getAttribute("data-now"));
  var atRisk = Number(me.getAttribute("data-at-risk-seconds") || 86400) * 1000;
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // The same words as describe_left: minutes floored, overdue rounded up to the minute, days past 96 h.
  function describe(ms) {
    var late = ms < 0;
    var seconds = Math.floor(Math.abs(ms) / 1000);
    if (late) { seconds += 59; }
    var minutes = Math.floor(seconds / 60);
    var hours = Math.floor(minutes / 60);
    var mins = minutes % 60;
    var text = hours >= 96 ? Math.floor(hours / 24) + " d " + (hours % 24) + " h" : hours + " h " + pad(mins) + " min";
    return text + (late ? " overdue" : " left");
  }

  function tick() {
    var now = Date.now() + skew;
    var nodes = document.querySelectorAll("[data-due]");
    for (var i = 0; i < nodes.length; i++) {
      var due = Date.parse(nodes[i].getAttribute("data-due"));
      if (isNaN(due)) { continue; }
      var left = due - now;
      var text = describe(left);
      if (nodes[i].textContent !== text) { nodes[i].textContent = text; }
      var box = nodes[i].closest("[data-urgency]");
      if (box) {
        var urgency = left < 0 ? "overdue" : left <= atRisk ? "at-risk" : "";
        box.classList.toggle("overdue", urgency === "overdue");
        box.classList.toggle("at-risk", urgency === "at-risk");
        box.setAttribute("data-urgency", urgency || "none");
      }
    }
  }

  tick();
  window.setInterval(tick, 15000);
})();
