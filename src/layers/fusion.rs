//! Fusions between neighbouring layers, decided in one pass over the model so that no layer's
//! code tests its neighbours' types:
//!
//! - **Activation derivatives.** The derivative of a layer's activation is applied by
//!   whichever launch of the layer above writes the gradient of its output (a product's
//!   epilogue, col2im, a pooling's, dropout's or batch norm's backward), never by a launch of
//!   its own. Views (flatten) are looked through: they move no data.
//! - **Input gradients.** A layer computes the gradient of its input only when some layer below
//!   it has trainable parameters.
//! - **Pooling into col2im.** A pooling whose windows tile its input (Keras's default), right
//!   below a convolution, has its backward run by that convolution, fused with its col2im:
//!   each pooled pixel gathers its gradient from the convolution's dcols and writes its
//!   window's input gradient, so the pooled gradient is never stored (`pool.wgsl`).

use super::{Conv2d, Node, Pool2d};
use crate::floor::Activation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fusion {
    /// Whether the layer computes a gradient for its input.
    pub input_grad: bool,
    /// The activation whose derivative that gradient is multiplied by.
    pub input_act: Activation,
    /// This convolution's backward also runs the backward of the pooling below it.
    pub pool_below: bool,
    /// This layer's backward is run by the layer above it.
    pub backward_above: bool,
}

/// The activation applied to the input of layer `i`, looking through views.
pub fn input_activation(nodes: &[Node], i: usize) -> Activation {
    nodes[..i]
        .iter()
        .rev()
        .find(|n| !n.layer.is_view())
        .map_or(Activation::Linear, Node::activation)
}

/// Whether layer `i` must pass a gradient to its input: only if some earlier layer has
/// trainable parameters.
pub fn needs_input_grad(nodes: &[Node], i: usize) -> bool {
    nodes[..i]
        .iter()
        .any(|n| n.layer.params(n.input).iter().any(|p| p.trainable))
}

/// The fusions of every layer of a model.
pub fn fuse(nodes: &[Node]) -> Vec<Fusion> {
    let mut fusions: Vec<Fusion> = (0..nodes.len())
        .map(|i| Fusion {
            input_grad: needs_input_grad(nodes, i),
            input_act: input_activation(nodes, i),
            pool_below: false,
            backward_above: false,
        })
        .collect();
    for i in 1..nodes.len() {
        let below = i - 1;
        let takes_pool = nodes[i].downcast_ref::<Conv2d>().is_some()
            && nodes[below]
                .downcast_ref::<Pool2d>()
                .is_some_and(Pool2d::tiles)
            && fusions[below].input_grad;
        if takes_pool {
            fusions[i].pool_below = true;
            fusions[below].backward_above = true;
        }
    }
    fusions
}
