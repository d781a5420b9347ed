use cortex::prelude::*;

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Empty {}

#[derive(Message)]
pub struct Native {
    pub a: u32,
    pub b: Option<NdArray<f32>>,
    pub c: Vec<Empty>,
    pub r#type: String,
}

#[derive(Message)]
#[cortex(python = "pkg.mod.Cls")]
pub struct Python {
    pub data: NdArray<u8>,
    #[cortex(python_type = "dict")]
    pub extra: Value,
}

#[derive(Message)]
#[cortex(fingerprint = 42)]
pub struct Pinned {
    #[cortex(serde)]
    pub when: std::time::Duration,
}

fn main() {
    const _: u64 = Native::FINGERPRINT;
    assert_eq!(Python::TYPE_NAME, "Cls");
    assert_eq!(Pinned::FINGERPRINT, 42);
    assert_eq!(Native::schema().fields[3].name, "type");
}
