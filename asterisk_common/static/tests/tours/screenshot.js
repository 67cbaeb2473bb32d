// A tour step that saves a screenshot of the page as it is now, when the test
// runs with ASTERISK_SCREENSHOTS=1 (asterisk_common/tests/screenshots.py
// captures it and lets the tour go on); otherwise it does nothing.
export function screenshot(name) {
    return {
        content: `screenshot: ${name}`,
        trigger: "body",
        async run() {
            if (!window.__asteriskScreenshots) {
                return;
            }
            // let transitions (dialogs, notifications, tabs) end
            await new Promise((resolve) => setTimeout(resolve, 500));
            window.__asteriskScreenshotTaken = null;
            console.log(`asterisk_screenshot:${name}`);
            const start = Date.now();
            while (window.__asteriskScreenshotTaken !== name) {
                if (Date.now() - start > 15000) {
                    throw new Error(`the screenshot ${name} was not taken`);
                }
                await new Promise((resolve) => setTimeout(resolve, 50));
            }
        },
    };
}
