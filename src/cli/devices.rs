//! `shaderfit devices`.

use super::kernels;
use crate::error::{Error, Result};
use crate::gpu::context::list_adapters;

pub fn run() -> Result<()> {
    let adapters = list_adapters();
    if adapters.is_empty() {
        return Err(Error::Gpu(
            "no adapter found; install a Vulkan, Metal or DX12 driver, or on a machine without a \
             GPU the software one: apt-get install mesa-vulkan-drivers libvulkan1"
                .into(),
        ));
    }
    for (i, a) in adapters.iter().enumerate() {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        println!("[{i}] {}", a.info.name);
        println!(
            "    backend: {:?}, type: {:?}",
            a.info.backend, a.info.device_type
        );
        println!("    driver: {} {}", a.info.driver, a.info.driver_info);
        println!(
            "    max storage binding: {:.0} MiB, max buffer: {:.0} MiB, storage buffers per stage: {}",
            mib(a.limits.max_storage_buffer_binding_size),
            mib(a.limits.max_buffer_size),
            a.limits.max_storage_buffers_per_shader_stage
        );
        println!(
            "    workgroup storage: {} KiB, invocations per workgroup: {}, workgroups per dimension: {}",
            a.limits.max_compute_workgroup_storage_size / 1024,
            a.limits.max_compute_invocations_per_workgroup,
            a.limits.max_compute_workgroups_per_dimension
        );
        println!(
            "    timestamp queries: {}",
            if a.timestamps { "yes" } else { "no" }
        );
        println!("    matmul kernels: {}", kernels::describe(&a.info));
    }
    Ok(())
}
