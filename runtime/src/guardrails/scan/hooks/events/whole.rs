//! Texts an event carries whole (a part, an item, the response): given
//! what was emitted for them, or scanned whole when they never streamed.

use super::text::{Kind, whole};
use super::{EventState, Key};
use crate::guardrails::scan::engine::{Detector, Scanner};
use crate::guardrails::scan::hooks::{Stop, extra_texts, response_texts};
use crate::types::responses::{OutputContent, OutputItem, Response};

impl<C: Send> EventState<C> {
    /// A part announced with text in it, before any delta of its own: the
    /// text begins its channel (deltas append to it), held back as a delta
    /// would be, what it holds released later as a delta event.
    pub(super) fn begin_part<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        key: Key,
        part: &mut OutputContent,
        item_id: Option<&String>,
    ) -> Result<(), Stop> {
        if self.channels.iter().any(|c| c.key == key) {
            return Ok(());
        }
        let text = match key.2 {
            Kind::Refusal => part.refusal.as_mut(),
            _ => part.text.as_mut(),
        };
        match text {
            Some(t) if !t.is_empty() => self.push(sc, key, t, item_id),
            _ => Ok(()),
        }
    }

    /// An item announced with text in it: each text begins its channel, as
    /// in [`begin_part`](Self::begin_part).
    pub(super) fn begin_item<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        output: u32,
        item: &mut OutputItem,
    ) -> Result<(), Stop> {
        let id = item.id.clone();
        for (i, p) in item.content.iter_mut().enumerate() {
            self.begin_part(
                sc,
                (output, i as u32, Kind::of_part(p, false)),
                p,
                id.as_ref(),
            )?;
        }
        for (i, p) in item.summary.iter_mut().enumerate() {
            self.begin_part(sc, (output, i as u32, Kind::Summary), p, id.as_ref())?;
        }
        for (t, kind) in [
            (item.arguments.as_mut(), Kind::Arguments),
            (item.input.as_mut(), Kind::CustomInput),
        ] {
            if let Some(t) = t.filter(|t| !t.is_empty())
                && !self.channels.iter().any(|c| c.key == (output, 0, kind))
            {
                self.push(sc, (output, 0, kind), t, id.as_ref())?;
            }
        }
        Ok(())
    }

    /// A part repeated whole: the text emitted for it, or (never streamed)
    /// scanned whole; its citations scanned whole.
    pub(super) fn whole_part<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        key: Key,
        part: &mut OutputContent,
    ) -> Result<(), Stop> {
        part.extra.remove("logprobs");
        let emitted = self
            .channels
            .iter()
            .rfind(|c| c.key == key)
            .map(|c| c.emitted.clone());
        for t in [part.text.as_mut(), part.refusal.as_mut()]
            .into_iter()
            .flatten()
        {
            match &emitted {
                Some(e) => t.clone_from(e),
                None => whole(sc, t, false, &mut self.tally)?,
            }
        }
        let tally = &mut self.tally;
        for note in &mut part.annotations {
            for t in [note.url.as_mut(), note.title.as_mut()]
                .into_iter()
                .flatten()
            {
                whole(sc, t, false, tally)?;
            }
            if sc.scan_unknown {
                extra_texts(&mut note.extra, &mut |t| whole(sc, t, false, tally))?;
            }
        }
        if sc.scan_unknown {
            extra_texts(&mut part.extra, &mut |t| whole(sc, t, false, tally))?;
        }
        Ok(())
    }

    pub(super) fn whole_item<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        output: u32,
        item: &mut OutputItem,
    ) -> Result<(), Stop> {
        for (i, p) in item.content.iter_mut().enumerate() {
            let key = (output, i as u32, Kind::of_part(p, false));
            self.whole_part(sc, key, p)?;
        }
        for (i, p) in item.summary.iter_mut().enumerate() {
            self.whole_part(sc, (output, i as u32, Kind::Summary), p)?;
        }
        for (t, kind) in [
            (item.arguments.as_mut(), Kind::Arguments),
            (item.input.as_mut(), Kind::CustomInput),
        ] {
            let Some(t) = t else { continue };
            match self.channels.iter().rfind(|c| c.key == (output, 0, kind)) {
                Some(c) => t.clone_from(&c.emitted),
                None => whole(sc, t, kind.is_json(), &mut self.tally)?,
            }
        }
        let tally = &mut self.tally;
        if let Some(t) = item.name.as_mut() {
            whole(sc, t, false, tally)?;
        }
        if sc.scan_unknown {
            extra_texts(&mut item.extra, &mut |t| whole(sc, t, false, tally))?;
        }
        Ok(())
    }

    pub(super) fn whole_response<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        response: &mut Response,
    ) -> Result<(), Stop> {
        for (i, item) in response.output.iter_mut().enumerate() {
            self.whole_item(sc, i as u32, item)?;
        }
        let tally = &mut self.tally;
        response_texts(response, sc.scan_unknown, &mut |t| {
            whole(sc, t, false, tally)
        })
    }
}
