"""Drives Debian's chromium (headless, through its chromedriver and Selenium) for
alerter/tests/status_page.rs, one browser for the whole test.

Reads one JSON command per line on stdin and answers one JSON line on stdout:
  {"cmd": "open", "url": U}                   load U
  {"cmd": "silence", "matchers": M, "by": B, "comment": C}
        fill the page's "New silence" form, press "Preview muted alerts", read the
        preview, then press "Create silence" (the form as the preview left it)
  {"cmd": "expire", "id": ID}                 press the "Expire" button of silence ID
  {"cmd": "test", "receiver": R}              press receiver R's "Send test" button
  {"cmd": "screenshot", "width": W, "path": P} full-page PNG at W CSS pixels wide
  {"cmd": "axe"}                              run axe-core on the page: its violations
  {"cmd": "quit"}
Each page answer carries the page's text, its URL, the number of <script> elements
and the number of JavaScript dialogs that opened (an injected script would show one).
Any error is answered as {"error": "..."}; the test fails with it.
"""
import json
import sys
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def axe_source():
    import axe_core_python  # ships axe-core's axe.min.js
    import os

    with open(os.path.join(os.path.dirname(axe_core_python.__file__), "axe.min.js")) as f:
        return f.read()


def start():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900", "--lang=en-US"):
        opts.add_argument(a)
    # An unexpected alert() stays open (and is counted) instead of being dismissed.
    opts.set_capability("unhandledPromptBehavior", "ignore")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


DIALOGS = 0


def count_dialogs(d):
    global DIALOGS
    try:
        a = d.switch_to.alert
        DIALOGS += 1
        a.dismiss()
    except Exception:
        pass


def page(d):
    count_dialogs(d)
    return {
        "url": d.current_url,
        "title": d.title,
        "text": d.execute_script("return document.body.innerText"),
        # textContent includes closed <details> (labels and annotations).
        "content": d.execute_script("return document.body.textContent"),
        "scripts": d.execute_script("return document.querySelectorAll('script').length"),
        "dialogs": DIALOGS,
    }


def submit(d, button):
    """Presses a submit button and waits for the page it leads to."""
    old = d.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(d, 20).until(EC.staleness_of(old))
    WebDriverWait(d, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def fill(d, id_, value):
    e = d.find_element(By.ID, id_)
    e.clear()
    e.send_keys(value)


def run(d, c):
    cmd = c["cmd"]
    if cmd == "open":
        d.get(c["url"])
        return page(d)
    if cmd == "silence":
        fill(d, "s-matchers", c["matchers"])
        fill(d, "s-created-by", c["by"])
        fill(d, "s-comment", c["comment"])
        submit(d, d.find_element(By.XPATH, "//button[normalize-space()='Preview muted alerts']"))
        preview = d.find_element(By.ID, "preview").text
        submit(d, d.find_element(By.XPATH, "//button[normalize-space()='Create silence']"))
        out = page(d)
        out["preview"] = preview
        return out
    if cmd == "expire":
        b = d.find_element(By.CSS_SELECTOR, "button[aria-label='Expire silence %s']" % c["id"])
        submit(d, b)
        return page(d)
    if cmd == "test":
        b = d.find_element(By.CSS_SELECTOR, "button[aria-label='Send a test notification to %s']" % c["receiver"])
        submit(d, b)
        return page(d)
    if cmd == "screenshot":
        w = int(c["width"])
        metrics = {"width": w, "height": 900, "deviceScaleFactor": 1, "mobile": w < 600}
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        h = d.execute_script("return document.documentElement.scrollHeight")
        metrics["height"] = int(h)
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        shot = d.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        import base64

        with open(c["path"], "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        return {"path": c["path"], "height": h}
    if cmd == "axe":
        d.execute_script(axe_source())
        res = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact,"
            " help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})),"
            " rules: r.passes.length + r.violations.length + r.incomplete.length + r.inapplicable.length,"
            " passes: r.passes.map(p => p.id), version: axe.version}))"
            ".catch(e => done({error: String(e)}))"
        )
        return res
    raise ValueError("unknown command %r" % cmd)


def main():
    d = start()
    d.set_script_timeout(60)
    try:
        for line in sys.stdin:
            c = json.loads(line)
            if c["cmd"] == "quit":
                break
            try:
                out = run(d, c)
            except Exception as e:
                out = {"error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
    finally:
        d.quit()


if __name__ == "__main__":
    main()
