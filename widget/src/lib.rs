//! The Token Manager panel (Yew → WebAssembly).
