//! Whether the re-parsed text is the tree that was checked, compared while
//! the re-parsed tree is serialised: each value it would write is compared
//! with the checked tree's JSON in place, so nothing is allocated and the
//! first difference stops it. The answer is the one comparing the two JSON
//! trees would give: fields that hold source positions
//! ([`policy::is_position`]) are skipped on both sides, everything else
//! (names, constants, list lengths, which fields a node has) must be equal.
//!
//! A second JSON tree built only to be compared was most of the round
//! trip's cost for a statement the check has not seen.

use super::policy;
use serde::ser::{self, Impossible, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Whether `tree`, serialised as serde_json would, equals `checked` but for
/// source positions.
pub(super) fn same_tree<T: Serialize + ?Sized>(tree: &T, checked: &Value) -> bool {
    tree.serialize(Against(checked)).is_ok()
}

/// The first difference (which one does not matter: any is a refusal).
#[derive(Debug)]
pub(super) struct Differs;

impl fmt::Display for Differs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the trees differ")
    }
}

impl std::error::Error for Differs {}

impl ser::Error for Differs {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Differs
    }
}

/// A serializer that writes nothing: it compares each value with the JSON
/// value serde_json would have written in its place.
struct Against<'a>(&'a Value);

fn equal(same: bool) -> Result<(), Differs> {
    if same {
        Ok(())
    } else {
        Err(Differs)
    }
}

/// An object's fields, compared as they come; at the end, the object must
/// hold no other field but positions.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    seen: usize,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value) -> Result<Self, Differs> {
        match value {
            Value::Object(object) => Ok(Fields { object, seen: 0 }),
            _ => Err(Differs),
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Differs> {
        if policy::is_position(key) {
            return Ok(());
        }
        self.seen += 1;
        value.serialize(Against(self.object.get(key).ok_or(Differs)?))
    }

    fn end(self) -> Result<(), Differs> {
        equal(self.object.keys().filter(|k| !policy::is_position(k)).count() == self.seen)
    }
}

/// An array's items, compared as they come; at the end, none may be left.
struct Items<'a> {
    items: &'a [Value],
    at: usize,
}

impl<'a> Items<'a> {
    fn of(value: &'a Value) -> Result<Self, Differs> {
        match value {
            Value::Array(items) => Ok(Items { items, at: 0 }),
            _ => Err(Differs),
        }
    }

    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Differs> {
        let expected = self.items.get(self.at).ok_or(Differs)?;
        self.at += 1;
        value.serialize(Against(expected))
    }

    fn end(self) -> Result<(), Differs> {
        equal(self.at == self.items.len())
    }
}

impl<'a> ser::Serializer for Against<'a> {
    type Ok = ();
    type Error = Differs;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeStruct = Fields<'a>;
    // Shapes a parse tree never has (protobuf oneofs are newtype variants,
    // its enums are integers, its messages have no maps): a difference, so
    // a refusal, never a pass.
    type SerializeTupleVariant = Impossible<(), Differs>;
    type SerializeMap = Impossible<(), Differs>;
    type SerializeStructVariant = Impossible<(), Differs>;

    fn serialize_bool(self, v: bool) -> Result<(), Differs> {
        equal(self.0.as_bool() == Some(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Differs> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Differs> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Differs> {
        self.serialize_i64(v.into())
    }
    /// serde_json writes a signed integer as a whole number; `as_i64` is
    /// `None` for a float, as `Number`'s equality is false.
    fn serialize_i64(self, v: i64) -> Result<(), Differs> {
        equal(self.0.as_i64() == Some(v))
    }
    fn serialize_u8(self, v: u8) -> Result<(), Differs> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Differs> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Differs> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Differs> {
        equal(self.0.as_u64() == Some(v))
    }
    fn serialize_f32(self, v: f32) -> Result<(), Differs> {
        self.serialize_f64(v.into())
    }
    /// serde_json writes a finite float as a float and any other as null.
    fn serialize_f64(self, v: f64) -> Result<(), Differs> {
        if v.is_finite() {
            equal(self.0.is_f64() && self.0.as_f64() == Some(v))
        } else {
            equal(self.0.is_null())
        }
    }
    fn serialize_char(self, v: char) -> Result<(), Differs> {
        let mut chars = self.0.as_str().unwrap_or_default().chars();
        equal(chars.next() == Some(v) && chars.next().is_none())
    }
    fn serialize_str(self, v: &str) -> Result<(), Differs> {
        equal(self.0.as_str() == Some(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Differs> {
        let mut items = Items::of(self.0)?;
        v.iter().try_for_each(|b| items.item(b))?;
        items.end()
    }
    fn serialize_none(self) -> Result<(), Differs> {
        equal(self.0.is_null())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Differs> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Differs> {
        equal(self.0.is_null())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Differs> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Differs> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Differs> {
        value.serialize(self)
    }
    /// serde_json writes `{"Variant": value}`: a node of the parse tree.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Differs> {
        let mut fields = Fields::of(self.0)?;
        fields.field(variant, value)?;
        fields.end()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Items<'a>, Differs> {
        Items::of(self.0)
    }
    fn serialize_tuple(self, _: usize) -> Result<Items<'a>, Differs> {
        Items::of(self.0)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Items<'a>, Differs> {
        Items::of(self.0)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Differs> {
        Err(Differs)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Differs> {
        Err(Differs)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'a>, Differs> {
        Fields::of(self.0)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Differs> {
        Err(Differs)
    }
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = Differs;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Differs> {
        self.item(value)
    }
    fn end(self) -> Result<(), Differs> {
        Items::end(self)
    }
}

impl ser::SerializeTuple for Items<'_> {
    type Ok = ();
    type Error = Differs;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Differs> {
        self.item(value)
    }
    fn end(self) -> Result<(), Differs> {
        Items::end(self)
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = ();
    type Error = Differs;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Differs> {
        self.item(value)
    }
    fn end(self) -> Result<(), Differs> {
        Items::end(self)
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = Differs;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Differs> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Differs> {
        Fields::end(self)
    }
}
