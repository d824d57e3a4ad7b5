//! Saving and loading an [`Mlp`] as a safetensors file.
//!
//! Layout: tensors `layers.{i}.weight` (`[in, out]`) and `layers.{i}.bias` (`[1, out]`),
//! dtype F64, little-endian, row-major; header metadata `sizes` (e.g. `"2,64,64,1"`)
//! and `activation` (e.g. `"silu"`). Every failure is an [`Error::Io`] or an
//! [`Error::WeightsFile`] naming the file; nothing panics on a bad file.
use super::{Activation, Dense, Mlp};
use crate::{Error, Result};
use ndarray::Array2;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

fn weight_name(i: usize) -> String {
    format!("layers.{i}.weight")
}

fn bias_name(i: usize) -> String {
    format!("layers.{i}.bias")
}

fn le_bytes(a: &Array2<f64>) -> Vec<u8> {
    // `iter` walks in logical row-major order whatever the memory layout.
    a.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `mlp` to `path` (replacing the file atomically if it exists).
pub fn save(mlp: &Mlp, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    mlp.validate()?;
    let sizes = mlp.sizes();
    let mut buffers = Vec::with_capacity(2 * mlp.layers.len());
    for (i, l) in mlp.layers.iter().enumerate() {
        buffers.push((weight_name(i), l.w.shape().to_vec(), le_bytes(&l.w)));
        buffers.push((bias_name(i), l.b.shape().to_vec(), le_bytes(&l.b)));
    }
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F64, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(|e| Error::WeightsFile(format!("{shown}: cannot encode `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let sizes_str = sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let metadata = HashMap::from([
        ("sizes".to_string(), sizes_str),
        ("activation".to_string(), mlp.activation.name().to_string()),
    ]);
    safetensors::serialize_to_file(views, Some(metadata), path).map_err(|e| match e {
        safetensors::SafeTensorError::IoError(source) => Error::Io {
            path: shown.clone(),
            source,
        },
        e => Error::WeightsFile(format!("{shown}: cannot write: {e}")),
    })
}

/// Reads a network written by [`save`], checking every tensor against the metadata.
pub fn load(path: impl AsRef<Path>) -> Result<Mlp> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: shown.clone(),
        source,
    })?;
    from_bytes(&bytes, &shown)
}

/// Like [`load`], but also requires the layer widths to equal `expected_sizes`.
pub fn load_matching(path: impl AsRef<Path>, expected_sizes: &[usize]) -> Result<Mlp> {
    let path = path.as_ref();
    let mlp = load(path)?;
    let sizes = mlp.sizes();
    if sizes != expected_sizes {
        return Err(Error::WeightsFile(format!(
            "{}: network sizes {} do not match the expected {}",
            path.display(),
            join(&sizes),
            join(expected_sizes)
        )));
    }
    Ok(mlp)
}

fn join(s: &[usize]) -> String {
    s.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// Decodes a safetensors buffer; `shown` names the source in error messages.
fn from_bytes(bytes: &[u8], shown: &str) -> Result<Mlp> {
    let bad = |msg: String| Error::WeightsFile(format!("{shown}: {msg}"));
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| {
        bad(format!(
            "not a valid safetensors file, corrupt or truncated ({e})"
        ))
    })?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or_else(|| bad("no metadata (`sizes`, `activation`) in the header".into()))?;
    let sizes_str = meta
        .get("sizes")
        .ok_or_else(|| bad("metadata has no `sizes`".into()))?;
    let sizes = sizes_str
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            bad(format!(
                "metadata `sizes` = {sizes_str:?} is not a list of widths ({e})"
            ))
        })?;
    if sizes.len() < 2 || sizes.contains(&0) {
        return Err(bad(format!(
            "metadata `sizes` = {sizes_str:?} needs at least two widths, all > 0"
        )));
    }
    let act_str = meta
        .get("activation")
        .ok_or_else(|| bad("metadata has no `activation`".into()))?;
    let activation: Activation = act_str
        .parse()
        .map_err(|e| bad(format!("metadata `activation`: {e}")))?;

    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        bad(format!(
            "not a valid safetensors file, corrupt or truncated ({e})"
        ))
    })?;
    let n_layers = sizes.len() - 1;
    if st.len() != 2 * n_layers {
        return Err(bad(format!(
            "expected {} tensors for sizes {sizes_str}, found {} ({:?})",
            2 * n_layers,
            st.len(),
            st.names()
        )));
    }
    let read = |name: &str, shape: [usize; 2]| -> Result<Array2<f64>> {
        let t = st
            .tensor(name)
            .map_err(|_| bad(format!("missing tensor `{name}`")))?;
        if t.dtype() != Dtype::F64 {
            return Err(bad(format!(
                "tensor `{name}` has dtype {:?}, expected F64",
                t.dtype()
            )));
        }
        if t.shape() != shape {
            return Err(bad(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?} from sizes {sizes_str}",
                t.shape()
            )));
        }
        let values: Vec<f64> = t
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        if values.iter().any(|x| !x.is_finite()) {
            return Err(bad(format!(
                "tensor `{name}` contains NaN or infinite values"
            )));
        }
        Array2::from_shape_vec(shape, values).map_err(|e| bad(format!("tensor `{name}`: {e}")))
    };
    let layers = sizes
        .windows(2)
        .enumerate()
        .map(|(i, p)| {
            Ok(Dense {
                w: read(&weight_name(i), [p[0], p[1]])?,
                b: read(&bias_name(i), [1, p[1]])?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Mlp::from_layers(layers, activation).map_err(|e| bad(e.to_string()))
}
