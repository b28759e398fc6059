//! The model-spec parser and shape inference on arbitrary text: an error naming the problem,
//! or a spec that round-trips through its JSON, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shaderfit::floor::Shape;
use shaderfit::model::ModelSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(spec) = ModelSpec::from_json("fuzz", text) else { return };
    let again = ModelSpec::from_json("fuzz", &spec.to_json().to_string()).expect("round trip");
    assert_eq!(again.to_json(), spec.to_json());
    if let Ok(net) = spec.compile(Shape::new(28, 28, 1), 10) {
        let _ = net.param_count();
    }
});
