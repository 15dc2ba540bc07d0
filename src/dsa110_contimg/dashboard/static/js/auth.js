// Sign-in: the #/sign-in page, and the header's signed-in indicator with sign-out.
//
// The session cookie is HttpOnly (scripts never see it); the CSRF cookie is not, and
// its presence says "this browser believes it is signed in". When it is there but the
// API says nobody is signed in (or a write answers 401), the session has ended: the
// page sends the user to sign in again and back where they were afterwards.

import { ApiError, cookie, currentUser, forgetUser } from "./api.js";
import { errorBox, fill, h } from "./dom.js";

const SIGN_IN = "/sign-in";

/** The route shown now ("/sources?x=1"), without the "#". */
function currentRoute() {
  return location.hash.replace(/^#/, "") || "/";
}

/** The sign-in route that comes back to `next` (not to the sign-in page itself). */
export function signInRoute(next = currentRoute(), ended = false) {
  const query = new URLSearchParams();
  if (next && !next.startsWith(SIGN_IN)) query.set("next", next);
  if (ended) query.set("ended", "1");
  const text = query.toString();
  return text ? `${SIGN_IN}?${text}` : SIGN_IN;
}

function goSignIn(ended) {
  // The CSRF cookie of an ended session would make every page think it is signed in.
  document.cookie = "dsa110_csrf=; Max-Age=0; Path=/; SameSite=Strict";
  if (currentRoute().startsWith(SIGN_IN)) return;
  location.hash = "#" + signInRoute(currentRoute(), ended);
}

async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "network", `the API could not be reached (${err.message})`);
  }
  if (response.ok) return response.status === 204 ? null : response.json();
  let error = { code: "http_" + response.status, message: response.statusText || "request failed" };
  try {
    const data = await response.json();
    if (data && data.error) error = data.error;
  } catch {
    // not JSON: keep the status text
  }
  throw new ApiError(response.status, error.code, error.message, error.details);
}

/** Sign out (the session is revoked on the server), then show the sign-in page. */
export async function signOut() {
  try {
    await post("/api/auth/logout");
  } finally {
    forgetUser();
    await showUser();
    location.hash = "#" + SIGN_IN;
  }
}

/** Fill the header's indicator: the user and a sign-out button, or a sign-in link. */
export async function showUser() {
  const slot = document.getElementById("user");
  if (!slot) return null;
  const user = await currentUser();
  if (user) {
    fill(
      slot,
      h("span", { class: "user-name", title: `signed in until ${user.expires_at}` }, user.name),
      h("span", { class: `user-role role-${user.role}` }, user.role),
      h("button", { type: "button", id: "sign-out", on: { click: () => signOut() } }, "Sign out"),
    );
  } else {
    fill(slot, h("a", { id: "sign-in-link", href: "#" + signInRoute() }, "Sign in"));
  }
  slot.dataset.state = user ? "signed-in" : "signed-out";
  return user;
}

/** Whether the session this browser holds has ended; if so, send the user to sign in. */
async function checkSession() {
  const believed = cookie("dsa110_csrf") !== "";
  forgetUser();
  const user = await showUser();
  if (believed && !user) goSignIn(true);
}

/** The #/sign-in page: name, password; on success back to `next`. */
export async function signIn(ctx) {
  ctx.setTitle("Sign in");
  const next = ctx.query.get("next") || "/";
  const message = h("div", { id: "sign-in-message", "aria-live": "assertive" });
  const name = h("input", { id: "sign-in-name", name: "name", autocomplete: "username", required: true, maxlength: 64 });
  const password = h("input", {
    id: "sign-in-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const button = h("button", { type: "submit", id: "sign-in-submit" }, "Sign in");
  const form = h(
    "form",
    { class: "sign-in panel", id: "sign-in" },
    h("label", { for: "sign-in-name" }, "User name", name),
    h("label", { for: "sign-in-password" }, "Password", password),
    button,
  );
  if (ctx.query.get("ended")) {
    fill(message, h("p", { class: "note", id: "session-ended" }, "Your session has ended; sign in again."));
  }
  const user = await currentUser();
  const already = user ? h("p", { class: "note" }, `Signed in as ${user.name} (${user.role}).`) : null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await post("/api/auth/login", { name: name.value, password: password.value });
      password.value = "";
      forgetUser();
      await showUser();
      location.hash = "#" + next;
    } catch (err) {
      password.value = "";
      fill(message, errorBox(err));
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
  fill(
    ctx.root,
    h("h1", {}, "Sign in"),
    h("p", { class: "intro" }, "Reading needs no sign-in. Sign in to vet candidates, rate images and run the pipeline."),
    already,
    message,
    form,
  );
  name.focus();
}

window.addEventListener("dsa110:unauthorized", () => {
  showUser();
  goSignIn(true);
});
window.addEventListener("hashchange", () => {
  if (!currentRoute().startsWith(SIGN_IN)) checkSession();
});
checkSession();
