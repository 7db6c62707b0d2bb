//! The common event types (`web.visit`, `web.form_submitted`, `crm.lifecycle_changed`, `crm.owner_assigned`,
//! `crm.activity_logged`) decoded from raw bytes into the fields of the core's `Event`, in one pass.
//!
//! It only ever accepts: an event it decodes is one that `schemas.events` (pydantic) accepts, with the same
//! values, and anything else (another type, a time in an unusual form, a malformed or doubtful event) gives
//! None, for the pydantic models to judge and to give the reasons. `tests/unit/test_native_decoding.py` holds
//! the two to that on generated and mutated events.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDateTime, PyString, PyTuple, PyType, PyTzInfo};
use serde::Deserialize;
use serde_json::value::RawValue;

/// `schemas.events.NonEmpty`: 1 to 512 characters.
const MAX_TEXT: usize = 512;
/// `schemas.events.Optional`: at most 4,096 characters, or null.
const MAX_OPTIONAL: usize = 4096;
/// Fraction digits of a time taken here: pydantic truncates a longer fraction where others round it.
const MAX_FRACTION: usize = 6;
/// The fields of `pipelines.core.model.Event`, in order, and the places of those that name a subject.
const EVENT_FIELDS: usize = 24;
const LEAD_ID: usize = 6;
const VISITOR_ID: usize = 7;
const STAGES: [&str; 9] = ["lead", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified", "lost"];
const ACTIVITY_KINDS: [&str; 4] = ["call", "email", "meeting", "note"];
/// Opening brackets an event may hold, anywhere: serde_json skips an unknown field nested to any depth, where the
/// pydantic models refuse one nested past about 200; a common event has two.
const MAX_BRACKETS: usize = 32;

/// A JSON string, borrowed from the input unless it holds escapes. (serde borrows a `Cow<str>` only when it sees
/// the very type in a field, so a newtype, which also serves inside an `Option`.)
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    specversion: Text<'a>,
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    source: Text<'a>,
    #[serde(rename = "type", borrow)]
    kind: Text<'a>,
    #[serde(borrow)]
    time: Text<'a>,
    #[serde(borrow)]
    subject: Text<'a>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct VisitData<'a> {
    #[serde(borrow)]
    visitor_id: Text<'a>,
    #[serde(borrow)]
    url: Text<'a>,
    #[serde(borrow, default)]
    referrer: Option<Text<'a>>,
    #[serde(borrow, default)]
    utm_source: Option<Text<'a>>,
    #[serde(borrow, default)]
    utm_medium: Option<Text<'a>>,
    #[serde(borrow, default)]
    utm_campaign: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct FormSubmittedData<'a> {
    #[serde(borrow)]
    visitor_id: Text<'a>,
    #[serde(borrow)]
    lead_id: Text<'a>,
    #[serde(borrow)]
    form_id: Text<'a>,
    #[serde(borrow, default)]
    email: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct LifecycleChangedData<'a> {
    #[serde(borrow)]
    lead_id: Text<'a>,
    #[serde(borrow)]
    stage: Text<'a>,
    #[serde(borrow, default)]
    reason: Option<Text<'a>>,
    #[serde(borrow, default)]
    owner_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct OwnerAssignedData<'a> {
    #[serde(borrow)]
    lead_id: Text<'a>,
    #[serde(borrow)]
    owner_id: Text<'a>,
}

#[derive(Deserialize)]
struct ActivityLoggedData<'a> {
    #[serde(borrow)]
    lead_id: Text<'a>,
    #[serde(borrow)]
    kind: Text<'a>,
    automated: bool,
    #[serde(borrow, default)]
    owner_id: Option<Text<'a>>,
}

fn chars(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

fn non_empty(text: &str) -> bool {
    !text.is_empty() && (text.len() <= MAX_TEXT || chars(text) <= MAX_TEXT)
}

fn optional(text: &Option<Text<'_>>) -> bool {
    text.as_deref().is_none_or(|t| t.len() <= MAX_OPTIONAL || chars(t) <= MAX_OPTIONAL)
}

/// A time in UTC to the millisecond, as the core keeps it.
#[derive(Debug, PartialEq, Eq)]
struct Instant {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    microsecond: u32,
}

fn number(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

fn at(bytes: &[u8], start: usize, len: usize) -> Option<u32> {
    number(bytes.get(start..start + len)?)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)` (`T` or `t` or a space; `Z` or `z`), a day that exists, in UTC
/// within years 1 to 9999, truncated to the millisecond. None for anything else: the regular expression of
/// `schemas.events.RFC3339` takes more forms, which the pydantic models judge.
fn instant(text: &str) -> Option<Instant> {
    let b = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 20 || separators.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (at(b, 0, 4)?, at(b, 5, 2)?, at(b, 8, 2)?);
    let (hour, minute, second) = (at(b, 11, 2)?, at(b, 14, 2)?, at(b, 17, 2)?);
    let mut pos = 19;
    let mut microsecond = 0;
    if b[pos] == b'.' {
        let digits = b[pos + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > MAX_FRACTION {
            return None;
        }
        microsecond = at(b, pos + 1, digits)? * 10u32.pow((MAX_FRACTION - digits) as u32);
        pos += 1 + digits;
    }
    let offset_minutes: i64 = match &b[pos..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (at(b, pos + 1, 2)?, at(b, pos + 4, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = i64::from(hours * 60 + minutes);
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    if !(1..=9999).contains(&year) || second > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, microsecond)?;
    let utc = NaiveDateTime::new(date, time).checked_sub_signed(TimeDelta::minutes(offset_minutes))?;
    if !(1..=9999).contains(&utc.year()) {
        return None;
    }
    Some(Instant {
        year: utc.year(),
        month: utc.month() as u8,
        day: utc.day() as u8,
        hour: utc.hour() as u8,
        minute: utc.minute() as u8,
        second: utc.second() as u8,
        microsecond: utc.nanosecond() / 1000 / 1000 * 1000,
    })
}

/// The fields of an `Event`, by position; None stands for Python's None.
type Fields<'py> = [Option<Bound<'py, PyAny>>; EVENT_FIELDS];

fn text<'py>(py: Python<'py>, value: &str) -> Option<Bound<'py, PyAny>> {
    Some(PyString::new(py, value).into_any())
}

/// Text that many events share (sources, pages, campaigns, owners, stages, kinds), each kept as one string object:
/// built once, hashed once by Python, shared by every event that carries it. At most `SHARED_TEXTS` of at most
/// `MAX_SHARED_BYTES` each are kept (all forgotten when full), whatever a sender sends.
struct SharedTexts {
    texts: HashMap<Box<str>, Py<PyString>>,
}

const SHARED_TEXTS: usize = 4096;
const MAX_SHARED_BYTES: usize = 256;

impl SharedTexts {
    fn get<'py>(&mut self, py: Python<'py>, value: &str) -> Option<Bound<'py, PyAny>> {
        if value.len() > MAX_SHARED_BYTES {
            return text(py, value);
        }
        if let Some(found) = self.texts.get(value) {
            return Some(found.bind(py).clone().into_any());
        }
        if self.texts.len() >= SHARED_TEXTS {
            self.texts.clear();
        }
        let made = PyString::new(py, value);
        self.texts.insert(value.into(), made.clone().unbind());
        Some(made.into_any())
    }

    fn maybe<'py>(&mut self, py: Python<'py>, value: &Option<Text<'_>>) -> Option<Bound<'py, PyAny>> {
        value.as_deref().and_then(|v| self.get(py, v))
    }
}

/// The type's own fields into `fields`, its name and its subject among them; None if `data` is not what the
/// pydantic models accept, or does not name the event's subject.
fn flatten<'py>(
    py: Python<'py>,
    shared: &mut SharedTexts,
    kind: &str,
    data: &str,
    subject: &str,
    fields: &mut Fields<'py>,
) -> Option<()> {
    // each type's name, one string object per type, and the field that names its subject (the lead's id but for
    // a visit)
    let (name, subject_field) = match kind {
        "web.visit" => {
            let d: VisitData = serde_json::from_str(data).ok()?;
            let valid = non_empty(&d.visitor_id) && non_empty(&d.url);
            let valid = valid && [&d.referrer, &d.utm_source, &d.utm_medium, &d.utm_campaign].into_iter().all(optional);
            if !valid || *d.visitor_id != *subject {
                return None;
            }
            fields[VISITOR_ID] = text(py, &d.visitor_id);
            fields[17] = shared.get(py, &d.url);
            fields[18] = shared.maybe(py, &d.referrer);
            fields[19] = shared.maybe(py, &d.utm_source);
            fields[20] = shared.maybe(py, &d.utm_medium);
            fields[21] = shared.maybe(py, &d.utm_campaign);
            (intern!(py, "web.visit"), VISITOR_ID)
        }
        "web.form_submitted" => {
            let d: FormSubmittedData = serde_json::from_str(data).ok()?;
            let valid = [&d.visitor_id, &d.lead_id, &d.form_id].into_iter().all(|t| non_empty(t));
            if !valid || !optional(&d.email) || *d.lead_id != *subject {
                return None;
            }
            fields[LEAD_ID] = text(py, &d.lead_id);
            fields[VISITOR_ID] = text(py, &d.visitor_id);
            (intern!(py, "web.form_submitted"), LEAD_ID)
        }
        "crm.lifecycle_changed" => {
            let d: LifecycleChangedData = serde_json::from_str(data).ok()?;
            let valid = non_empty(&d.lead_id) && STAGES.contains(&d.stage.as_ref());
            if !valid || !optional(&d.reason) || !optional(&d.owner_id) || *d.lead_id != *subject {
                return None;
            }
            fields[LEAD_ID] = text(py, &d.lead_id);
            fields[8] = shared.get(py, &d.stage);
            fields[9] = shared.maybe(py, &d.owner_id);
            fields[10] = shared.maybe(py, &d.reason);
            (intern!(py, "crm.lifecycle_changed"), LEAD_ID)
        }
        "crm.owner_assigned" => {
            let d: OwnerAssignedData = serde_json::from_str(data).ok()?;
            if !non_empty(&d.lead_id) || !non_empty(&d.owner_id) || *d.lead_id != *subject {
                return None;
            }
            fields[LEAD_ID] = text(py, &d.lead_id);
            fields[9] = shared.get(py, &d.owner_id);
            (intern!(py, "crm.owner_assigned"), LEAD_ID)
        }
        "crm.activity_logged" => {
            let d: ActivityLoggedData = serde_json::from_str(data).ok()?;
            let valid = non_empty(&d.lead_id) && ACTIVITY_KINDS.contains(&d.kind.as_ref());
            if !valid || !optional(&d.owner_id) || *d.lead_id != *subject {
                return None;
            }
            fields[LEAD_ID] = text(py, &d.lead_id);
            fields[9] = shared.maybe(py, &d.owner_id);
            fields[11] = shared.get(py, &d.kind);
            fields[12] = Some(PyBool::new(py, d.automated).to_owned().into_any());
            (intern!(py, "crm.activity_logged"), LEAD_ID)
        }
        _ => return None,
    };
    fields[2] = Some(name.clone().into_any());
    fields[4] = fields[subject_field].clone();
    Some(())
}

/// Decodes the common event types into the core's `Event`, a named tuple of `EVENT_FIELDS` fields whose class is
/// given once: `EventDecoder(Event).decode(raw)`.
#[pyclass]
struct EventDecoder {
    event_type: Py<PyType>,
    shared: SharedTexts,
}

#[pymethods]
impl EventDecoder {
    #[new]
    fn new(event_type: &Bound<'_, PyType>) -> PyResult<Self> {
        let fields = event_type.getattr("_fields").and_then(|f| f.len()).unwrap_or(0);
        // SAFETY: reads the type objects' sizes; both are live (held by the arguments and the interpreter)
        let (basic, item, dict, tuple_basic, tuple_item) = unsafe {
            let own = event_type.as_type_ptr();
            let tuple = std::ptr::addr_of_mut!(ffi::PyTuple_Type);
            ((*own).tp_basicsize, (*own).tp_itemsize, (*own).tp_dictoffset, (*tuple).tp_basicsize, (*tuple).tp_itemsize)
        };
        let plain_tuple = basic == tuple_basic && item == tuple_item && dict == 0;
        if !event_type.is_subclass_of::<PyTuple>()? || !plain_tuple || fields != EVENT_FIELDS {
            return Err(PyTypeError::new_err(format!(
                "EventDecoder needs a named tuple of {EVENT_FIELDS} fields and no other attributes"
            )));
        }
        Ok(Self { event_type: event_type.clone().unbind(), shared: SharedTexts { texts: HashMap::new() } })
    }

    /// The core's `Event` for a common event the pydantic models accept as it is (its time in UTC to the
    /// millisecond, `payload` the very bytes given); None: ask the pydantic models.
    fn decode<'py>(&mut self, py: Python<'py>, raw: &Bound<'py, PyBytes>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(fields) = fields(py, &mut self.shared, raw)? else {
            return Ok(None);
        };
        // SAFETY: the type is a tuple subclass with the tuple's own layout (checked in `new`), so it is allocated
        // and filled as `tuple.__new__(Event, fields)` does it; each slot takes one new reference
        unsafe {
            let event_type = self.event_type.bind(py).as_type_ptr();
            let alloc = (*event_type).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
            let event = alloc(event_type, EVENT_FIELDS as ffi::Py_ssize_t);
            if event.is_null() {
                return Err(PyErr::fetch(py));
            }
            for (i, field) in fields.into_iter().enumerate() {
                let value = field.unwrap_or_else(|| py.None().into_bound(py));
                ffi::PyTuple_SET_ITEM(event, i as ffi::Py_ssize_t, value.into_ptr());
            }
            Ok(Some(Bound::from_owned_ptr(py, event)))
        }
    }
}

/// The fields of the core's `Event` for a common event the pydantic models accept as it is, in order; None: ask
/// the pydantic models.
fn fields<'py>(py: Python<'py>, shared: &mut SharedTexts, raw: &Bound<'py, PyBytes>) -> PyResult<Option<Fields<'py>>> {
    let bytes = raw.as_bytes();
    if bytes.iter().filter(|&&b| b == b'[' || b == b'{').count() > MAX_BRACKETS {
        return Ok(None);
    }
    let Ok(json) = std::str::from_utf8(bytes) else {
        return Ok(None);
    };
    let Ok(envelope) = serde_json::from_str::<Envelope>(json) else {
        return Ok(None);
    };
    let envelope_valid = &*envelope.specversion == "1.0"
        && [&envelope.id, &envelope.source, &envelope.subject].into_iter().all(|t| non_empty(t));
    if !envelope_valid {
        return Ok(None);
    }
    let Some(time) = instant(&envelope.time) else {
        return Ok(None);
    };
    let mut fields: Fields<'py> = Default::default();
    if flatten(py, shared, &envelope.kind, envelope.data.get(), &envelope.subject, &mut fields).is_none() {
        return Ok(None);
    }
    let utc = PyTzInfo::utc(py)?;
    let when = PyDateTime::new(
        py,
        time.year,
        time.month,
        time.day,
        time.hour,
        time.minute,
        time.second,
        time.microsecond,
        Some(&utc),
    )?;
    fields[0] = shared.get(py, &envelope.source);
    fields[1] = text(py, &envelope.id);
    fields[3] = Some(when.into_any());
    fields[5] = Some(raw.clone().into_any());
    Ok(Some(fields))
}

/// The row of `events` for a valid event and its origin, as `pipelines.core.rows.EVENT_COLUMNS` orders them:
/// source, id, type, time, subject, lead_id or "", visitor_id or "", payload as text, topic, partition, offset.
#[pyfunction]
fn event_row<'py>(event: &Bound<'py, PyTuple>, origin: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyTuple>> {
    let py = event.py();
    if event.len() != EVENT_FIELDS || origin.len() != 3 {
        return Err(PyTypeError::new_err(format!("event_row needs an Event of {EVENT_FIELDS} fields and an Origin")));
    }
    let field = |i: usize| event.get_borrowed_item(i).map(|item| item.to_owned());
    let or_empty = |i: usize| -> PyResult<Bound<'py, PyAny>> {
        let item = field(i)?;
        Ok(if item.is_truthy()? { item } else { intern!(py, "").clone().into_any() })
    };
    let payload = field(5)?;
    let text = PyString::from_encoded_object(&payload, Some(c"utf-8"), Some(c"strict"))?;
    PyTuple::new(
        py,
        [
            field(0)?,
            field(1)?,
            field(2)?,
            field(3)?,
            field(4)?,
            or_empty(6)?,
            or_empty(7)?,
            text.into_any(),
            origin.get_item(0)?,
            origin.get_item(1)?,
            origin.get_item(2)?,
        ],
    )
}

#[pymodule]
fn leadflow_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<EventDecoder>()?;
    module.add_function(wrap_pyfunction!(event_row, module)?)?;
    module.add("EVENT_FIELDS", EVENT_FIELDS)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8, microsecond: u32) -> Option<Instant> {
        Some(Instant { year, month, day, hour, minute, second, microsecond })
    }

    #[test]
    fn times_in_utc_to_the_millisecond() {
        assert_eq!(instant("2026-11-02T09:00:13.440+01:00"), utc(2026, 11, 2, 8, 0, 13, 440_000));
        assert_eq!(instant("2026-11-02t09:00:13.4409z"), utc(2026, 11, 2, 9, 0, 13, 440_000));
        assert_eq!(instant("2026-11-02 09:00:13-23:59"), utc(2026, 11, 3, 8, 59, 13, 0));
        assert_eq!(instant("2024-02-29T23:30:00-01:00"), utc(2024, 3, 1, 0, 30, 0, 0));
    }

    #[test]
    fn unusual_or_impossible_times_are_left_to_pydantic() {
        for text in [
            "2026-11-02T09:00:13.1234567Z", // seven fraction digits
            "2026-11-02T09:00:13.Z",
            "2026-11-02T09:00:13", // no offset
            "2026-11-02T09:00:13+0100",
            "2026-11-02T09:00:13+24:00",
            "2026-11-02T09:00:13+00:60",
            "2026-11-02T09:00:60Z", // a leap second
            "2026-02-29T09:00:13Z",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:30:00+01:00", // year 0 in UTC
            "9999-12-31T23:30:00-01:00", // year 10000 in UTC
            "2026-11-02T09:00:13Z\n",
            "2026-11-02_09:00:13Z",
            "2026-11-02T09:00:１３Z",
        ] {
            assert_eq!(instant(text), None, "{text}");
        }
    }
}
