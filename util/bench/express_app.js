// Target 5 of util/bench/run: an Express app validating with npm twilio's
// twilio.webhook() middleware, as Twilio's docs show it, answering 200.
//
//   NODE_PATH=build/bench/node_modules node express_app.js PORT TOKEN HOST \
//       [WORKERS]
//
// HOST is the public host Twilio calls (the signed URL is
// https://HOST + the request target).  WORKERS > 1 runs a node:cluster of
// that many processes sharing the port.

"use strict";

const cluster = require("node:cluster");

const [port, token, host, workersArg] = process.argv.slice(2);
const workers = Number(workersArg || 1);

if (!port || !token || !host) {
    console.error("usage: express_app.js PORT TOKEN HOST [WORKERS]");
    process.exit(2);
}

if (workers > 1 && cluster.isPrimary) {
    for (let i = 0; i < workers; i++) {
        cluster.fork();
    }
    const stop = () => {
        for (const id in cluster.workers) {
            cluster.workers[id].process.kill("SIGTERM");
        }
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    cluster.on("exit", (w, code, signal) => {
        if (signal !== "SIGTERM") {
            console.error(`worker ${w.process.pid} died (${code || signal})`);
        }
    });
} else {
    const express = require("express");
    const twilio = require("twilio");

    const app = express();
    app.disable("x-powered-by");
    app.set("etag", false);

    // forms for SMS/voice webhooks; JSON (Event Streams) keeps the raw body
    // for the bodySHA256 check, as twilio.webhook() expects in req.rawBody
    app.use(express.urlencoded({ extended: false, limit: "1mb" }));
    app.use(express.json({
        limit: "1mb",
        verify: (req, res, buf) => {
            req.rawBody = buf.toString("utf8");
        },
    }));

    const hook = twilio.webhook(token, { protocol: "https", host: host });
    const ok = (req, res) => res.type("text/plain").send("ok\n");

    app.post("/sms", hook, ok);
    app.post("/events", hook, ok);

    app.listen(Number(port), "127.0.0.1");
}
