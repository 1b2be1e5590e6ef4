// Functions the browser tests call inside JupyterLab's page (see tests/lab_notebook.py).
// JupyterLab runs with --LabApp.expose_app_in_browser=True, so `window.jupyterapp` is the
// application; the tests read the notebook's model rather than scraping the page.
window.courseTest = {
  kernelErrors: [], // every `error` message the kernel sent: from cells and widget callbacks
  command: { done: true, failure: null }, // the last command started by `startCommand`

  // The notebook panel open on `path`, or undefined before JupyterLab has opened it.
  panel(path) {
    const app = window.jupyterapp;
    if (!app || !app.shell) {
      return undefined;
    }
    return Array.from(app.shell.widgets("main")).find(
      (widget) => widget.context && widget.context.path === path,
    );
  },

  kernel(path) {
    const panel = this.panel(path);
    const session = panel && panel.sessionContext.session;
    return session ? session.kernel : null;
  },

  // True once the notebook is loaded and its kernel is started and idle.
  kernelReady(path) {
    const panel = this.panel(path);
    const kernel = this.kernel(path);
    return Boolean(panel && panel.context.isReady && kernel && kernel.status === "idle");
  },

  kernelIdle(path) {
    const kernel = this.kernel(path);
    return Boolean(kernel && kernel.status === "idle");
  },

  // Records the kernel's error messages from now on, whichever request caused them.
  watchKernel(path) {
    this.kernelErrors = [];
    this.panel(path).sessionContext.iopubMessage.connect((_, message) => {
      if (message.header.msg_type === "error") {
        this.kernelErrors.push({
          ename: message.content.ename,
          evalue: message.content.evalue,
          during: message.parent_header ? message.parent_header.msg_type : "unknown",
        });
      }
    });
  },

  // Starts a JupyterLab command on the notebook (with `cellIndex` active when given).
  startCommand(path, command, cellIndex) {
    const panel = this.panel(path);
    window.jupyterapp.shell.activateById(panel.id);
    if (cellIndex !== null) {
      panel.content.activeCellIndex = cellIndex;
    }
    const state = { done: false, failure: null };
    this.command = state;
    window.jupyterapp.commands.execute(command).then(
      () => {
        state.done = true;
      },
      (error) => {
        state.failure = String(error);
        state.done = true;
      },
    );
  },

  commandFinished(path) {
    return this.command.done && this.kernelIdle(path);
  },

  // One summary per code cell: index, first source line, tags, execution count, running,
  // errors, printed text and the number of widget outputs.
  codeCells(path) {
    const summaries = [];
    this.panel(path).content.widgets.forEach((cell, index) => {
      const model = cell.model;
      if (model.type !== "code") {
        return;
      }
      const outputs = model.outputs.toJSON();
      summaries.push({
        index: index,
        source: model.sharedModel.getSource().split("\n")[0],
        tags: model.getMetadata("tags") || [],
        executionCount: model.executionCount,
        running: model.executionState === "running",
        errors: outputs
          .filter((output) => output.output_type === "error")
          .map((output) => ({ ename: output.ename, evalue: output.evalue })),
        text: outputs
          .filter((output) => output.output_type === "stream")
          .map((output) => output.text)
          .join(""),
        widgets: outputs.filter(
          (output) =>
            output.data && "application/vnd.jupyter.widget-view+json" in output.data,
        ).length,
      });
    });
    return summaries;
  },

  // Indexes of cells with a widget output that the page has not drawn as a widget (yet).
  undrawnWidgetCells(path) {
    const cells = this.panel(path).content.widgets;
    return this.codeCells(path)
      .filter((summary) => summary.widgets > 0)
      .filter((summary) => {
        const drawn = cells[summary.index].node.querySelectorAll(
          ".jp-OutputArea-output > .jupyter-widgets",
        );
        return drawn.length < summary.widgets;
      })
      .map((summary) => summary.index);
  },

  // The index of the first cell whose source contains `text`, or -1.
  findCell(path, text) {
    return this.panel(path).content.widgets.findIndex((cell) =>
      cell.model.sharedModel.getSource().includes(text),
    );
  },

  scrollToCell(path, index) {
    const notebook = this.panel(path).content;
    notebook.activeCellIndex = index;
    notebook.widgets[index].node.scrollIntoView({ block: "start" });
  },

  // The bytes behind an <img> (a widget's `blob:` URL), base64-encoded.
  async imageBytes(image) {
    const buffer = await (await fetch(image.src)).arrayBuffer();
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let start = 0; start < bytes.length; start += 8192) {
      text += String.fromCharCode(...bytes.subarray(start, start + 8192));
    }
    return btoa(text);
  },
};
