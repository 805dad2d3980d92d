// Evaluated in the served page by tests/browser/cdp.py (Chromium's DevTools protocol): drives the
// page as a person would and returns "pass ..." or "fail <why>". The page itself ships no test code.
(async () => {
  const done = (v) => v;
  const wait = async (cond, what) => {
    for (let i = 0; i < 600; i++) { if (cond()) return; await new Promise((r) => setTimeout(r, 50)); }
    throw new Error("timed out waiting for " + what + ($("error").textContent ? " (page shows: " + $("error").textContent + ")" : ""));
  };
  try {
    $("live").checked = false;
    await wait(() => $("before").naturalWidth > 0, "the sampled face");
    const before = $("before").src;
    // choosing a one-shot method starts its strength at the server's default; other methods leave it empty
    const method = $("method").value;
    for (const [m, want] of [["boundary", true], ["gradient", false]]) {
      $("method").value = m; $("method").dispatchEvent(new Event("change"));
      if (want !== Number($("strength").value) > 0) throw new Error("strength for " + m + ": '" + $("strength").value + "'");
    }
    $("method").value = method; $("method").dispatchEvent(new Event("change"));
    const s = state.sliders["Smiling"];
    s.value = 0.9; s.dispatchEvent(new Event("input"));
    // an invalid setting must show the server's one-line message
    const steps = $("steps").value;
    $("steps").value = 0;
    $("run").click();
    await wait(() => !state.busy && $("error").textContent, "the error message");
    const err = $("error").textContent;
    if (!/steps/.test(err)) throw new Error("unexpected error text: " + err);
    $("steps").value = steps;
    $("run").click();
    await wait(() => !state.busy && $("after").naturalWidth > 0, "the edited face");
    if ($("error").textContent) throw new Error("edit failed: " + $("error").textContent);
    if (!$("chart").dataset.drawn) throw new Error("no chart");
    if ($("after").src === before) throw new Error("the after image equals the before image");
    const links = $("downloads").querySelectorAll("a").length;
    const add = request().add.join(",");
    // A discovered direction's slider: moving it clears the attribute sliders, and the edit moves along it.
    if (!state.dirs.length || $("discovered_box").hidden) throw new Error("no discovered-direction sliders");
    const firstAfter = $("after").src, d = state.dirs[0];
    const ds = state.dirSliders[d.direction];
    ds.value = 2; ds.dispatchEvent(new Event("input"));
    if (parseFloat(s.value) !== 0) throw new Error("moving a direction slider left the Smiling slider at " + s.value);
    if (!request().direction || request().add) throw new Error("the request is not a move: " + JSON.stringify(request()));
    state.last = null;
    $("run").click();
    await wait(() => !state.busy && state.last, "the move along " + d.direction);
    if ($("error").textContent) throw new Error("move failed: " + $("error").textContent);
    if (!state.last.report.edit.startsWith(d.direction)) throw new Error("report edit: " + state.last.report.edit);
    if ($("after").src === firstAfter) throw new Error("the moved face equals the edited one");
    if (!$("after_caption").textContent.includes(d.direction)) throw new Error("caption: " + $("after_caption").textContent);
    return done("pass add=" + add + " links=" + links + " chart=" + $("chart").dataset.drawn + " error=" + err +
         " move=" + state.last.report.edit + " sliders=" + state.dirs.length + " summary=" + JSON.stringify($("summary").textContent));
  } catch (e) {
    return done("fail " + e.message);
  }
})()

