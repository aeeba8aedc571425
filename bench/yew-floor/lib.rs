//! The smallest Yew panel: state, a button, a keyed list. See Cargo.toml.
use wasm_bindgen::prelude::*;
use yew::prelude::*;

#[function_component]
fn Floor() -> Html {
    let rows = use_state(|| 0u32);
    let onclick = {
        let rows = rows.clone();
        Callback::from(move |_| rows.set(*rows + 1))
    };
    html! {
        <section>
            <button {onclick}>{ "Authorize" }</button>
            <table>{ for (0..*rows).map(|i| html! { <tr key={i}><td>{ i }</td></tr> }) }</table>
        </section>
    }
}

/// Render the floor panel into `root`.
#[wasm_bindgen]
pub fn mount(root: web_sys::Element) {
    yew::Renderer::<Floor>::with_root(root).render();
}
