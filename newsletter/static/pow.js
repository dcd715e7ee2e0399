// Proof of work for sign-up forms on other sites (newsletter/proof_of_work.py, ALTCHA v1).
// Served by the newsletter itself; nothing is loaded from a third party.
// A form with data-newsletter-pow="<challenge URL>" gets its hidden "altcha" field filled in
// before its button is enabled. Scripts may call newsletterProofOfWork(url) themselves.
(function () {
  "use strict";

  async function sha256Hex(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function solve(url) {
    const response = await fetch(url, {credentials: "omit"});
    const c = await response.json();
    for (let number = 0; number <= c.maxNumber; number++) {
      if (await sha256Hex(c.salt + number) === c.challenge) {
        return btoa(JSON.stringify({algorithm: c.algorithm, challenge: c.challenge,
                                    number: number, salt: c.salt, signature: c.signature}));
      }
    }
    throw new Error("no solution");
  }

  window.newsletterProofOfWork = solve;

  function prepare(form) {
    const field = form.querySelector("input[name=altcha]");
    const button = form.querySelector("[type=submit]");
    if (!field || !button) return;
    button.disabled = true;
    solve(form.dataset.newsletterPow).then((payload) => {
      field.value = payload;
      button.disabled = false;
    }).catch(() => { button.disabled = false; });  // the server then explains what is missing
  }

  document.querySelectorAll("form[data-newsletter-pow]").forEach(prepare);
})();
