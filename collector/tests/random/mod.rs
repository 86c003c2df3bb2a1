//! Random programs against a sequential reachability oracle: the program model
//! (`program`), the oracle (`oracle`), the executor with its checks (`exec`), and scope
//! blocks on `Gc` references (`scoped`).

pub mod exec;
pub mod oracle;
pub mod program;
pub mod scoped;
