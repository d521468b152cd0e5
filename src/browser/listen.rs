//! Handles that unsubscribe when dropped: event listeners, intervals, timeouts and the
//! BroadcastChannel. A `Gate` owns them all; `dispose()` drops them, so nothing of a disposed
//! gate keeps running.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// An event listener, removed from its target when dropped.
#[must_use = "the listener is removed when the handle is dropped"]
pub(crate) struct Listener {
    target: web_sys::EventTarget,
    kind: &'static str,
    capture: bool,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    /// Listen for `kind` on `target`. `capture` listeners are also passive (activity tracking
    /// must never delay a tap). `None` if the browser refused to add it.
    pub(crate) fn new(
        target: &web_sys::EventTarget,
        kind: &'static str,
        capture: bool,
        f: impl FnMut(web_sys::Event) + 'static,
    ) -> Option<Listener> {
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        let added = if capture {
            let opts = web_sys::AddEventListenerOptions::new();
            opts.set_capture(true);
            opts.set_passive(true);
            target.add_event_listener_with_callback_and_add_event_listener_options(
                kind,
                callback.as_ref().unchecked_ref(),
                &opts,
            )
        } else {
            target.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref())
        };
        added.ok().map(|()| Listener {
            target: target.clone(),
            kind,
            capture,
            callback,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback_and_bool(
            self.kind,
            self.callback.as_ref().unchecked_ref(),
            self.capture,
        );
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Listener({})", self.kind)
    }
}

/// A `setInterval`, cleared when dropped.
#[must_use = "the interval is cleared when the handle is dropped"]
pub(crate) struct Interval {
    id: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Interval {
    pub(crate) fn new(ms: i32, f: impl FnMut() + 'static) -> Option<Interval> {
        let callback = Closure::<dyn FnMut()>::new(f);
        let id = super::js::window()?
            .set_interval_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                ms,
            )
            .ok()?;
        Some(Interval {
            id,
            _callback: callback,
        })
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some(w) = super::js::window() {
            w.clear_interval_with_handle(self.id);
        }
    }
}

impl std::fmt::Debug for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interval({})", self.id)
    }
}

/// A `setTimeout`, cleared when dropped.
#[must_use = "the timeout is cleared when the handle is dropped"]
pub(crate) struct Timeout {
    id: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Timeout {
    pub(crate) fn new(ms: i32, f: impl FnMut() + 'static) -> Option<Timeout> {
        let callback = Closure::<dyn FnMut()>::new(f);
        let id = super::js::window()?
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                ms,
            )
            .ok()?;
        Some(Timeout {
            id,
            _callback: callback,
        })
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(w) = super::js::window() {
            w.clear_timeout_with_handle(self.id);
        }
    }
}

impl std::fmt::Debug for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Timeout({})", self.id)
    }
}

/// A BroadcastChannel with its `message` handler, closed when dropped.
#[must_use = "the channel is closed when the handle is dropped"]
pub(crate) struct Channel {
    channel: web_sys::BroadcastChannel,
    _callback: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Channel {
    pub(crate) fn new(
        name: &str,
        f: impl FnMut(web_sys::MessageEvent) + 'static,
    ) -> Option<Channel> {
        let channel = web_sys::BroadcastChannel::new(name).ok()?;
        let callback = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(f);
        channel.set_onmessage(Some(callback.as_ref().unchecked_ref()));
        Some(Channel {
            channel,
            _callback: callback,
        })
    }

    /// Post a text message; `false` if the channel refused it (closed).
    pub(crate) fn post(&self, text: &str) -> bool {
        self.channel.post_message(&JsValue::from_str(text)).is_ok()
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel({})", self.channel.name())
    }
}
