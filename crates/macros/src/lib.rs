//! Macros for oxidask: `#[derive(DataSize)]` and `#[remote]`.
//!
//! `#[derive(DataSize)]` implements `DataSize` (the memory a value holds,
//! for the store's memory limit) by summing the heap sizes of the fields;
//! for an enum, of the fields of the variant the value is. Every field's
//! type must implement `DataSize` itself, and type parameters get a
//! `DataSize` bound.
//!
//! The generated code names the trait as `::oxidask::graph::DataSize`; a
//! crate that depends on `oxidask-graph` but not on the facade says where
//! to find it with `#[data_size(crate = "oxidask_graph")]`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, parse_macro_input};

/// Derives `DataSize` by summing the fields' heap sizes.
///
/// ```ignore
/// #[derive(Clone, oxidask::DataSize)]
/// struct Row { name: String, values: Vec<(u32, f32)> }
/// ```
#[proc_macro_derive(DataSize, attributes(data_size))]
pub fn derive_data_size(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn trait_path(input: &DeriveInput) -> syn::Result<Tokens> {
    let mut path = quote!(::oxidask::graph::DataSize);
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("data_size"))
    {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let krate: syn::LitStr = meta.value()?.parse()?;
                let krate: syn::Path = krate.parse()?;
                path = quote!(#krate::DataSize);
                Ok(())
            } else {
                Err(meta.error("expected `crate = \"path\"`"))
            }
        })?;
    }
    Ok(path)
}

/// The sum of the heap sizes of `fields`, bound to names by `pattern`.
fn fields_sum(fields: &Fields, size: &Tokens) -> (Tokens, Tokens) {
    match fields {
        Fields::Named(named) => {
            let names: Vec<_> = named.named.iter().map(|f| f.ident.clone()).collect();
            (
                quote!({ #(#names),* }),
                quote!(0usize #(+ #size::heap_bytes(#names))*),
            )
        }
        Fields::Unnamed(unnamed) => {
            let names: Vec<_> = (0..unnamed.unnamed.len())
                .map(|i| format_ident!("f{i}"))
                .collect();
            (
                quote!(( #(#names),* )),
                quote!(0usize #(+ #size::heap_bytes(#names))*),
            )
        }
        Fields::Unit => (quote!(), quote!(0usize)),
    }
}

fn expand(mut input: DeriveInput) -> syn::Result<Tokens> {
    let size = trait_path(&input)?;
    for param in input.generics.type_params_mut() {
        param.bounds.push(syn::parse_quote!(#size));
    }
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let body = match &input.data {
        Data::Struct(s) => {
            let (pattern, sum) = fields_sum(&s.fields, &size);
            quote! {
                let #name #pattern = self;
                #sum
            }
        }
        Data::Enum(e) => {
            let arms = e.variants.iter().map(|v| {
                let variant = &v.ident;
                let (pattern, sum) = fields_sum(&v.fields, &size);
                quote!(#name::#variant #pattern => #sum,)
            });
            quote! {
                #[allow(unreachable_code)]
                match self { #(#arms)* }
            }
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "DataSize cannot be derived for unions: which field is live is unknown",
            ));
        }
    };
    Ok(quote! {
        impl #impl_generics #size for #name #ty_generics #where_clause {
            #[allow(unused_variables)]
            fn heap_bytes(&self) -> usize {
                #body
            }
        }
    })
}

/// Registers a plain function by its path so that graphs calling it can be
/// written to bytes and run in another process of the same program (a
/// cluster worker, or a test's round trip). The function itself is left
/// as it is: call it, pass it to `delayed!`, `map_blocks`, `Bag::map`, ….
///
/// ```ignore
/// #[oxidask::remote]
/// fn count_letters(path: String) -> usize { /* … */ }
/// ```
///
/// Arguments must be owned types or shared references (taken from task
/// values; a reference lends the value); the result is
/// stored as a task value (with its real size and codec when its type
/// implements `DataSize`; else it runs but cannot spill or be sent). A function
/// returning `Result<T, E>` fails its task with `E`. Generic functions,
/// methods and `async fn` cannot be registered; wrap a generic function in
/// a plain one per type. Inside the oxidask workspace, say where the graph
/// crate is with `#[remote(crate = "oxidask_graph")]`.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as syn::ItemFn);
    match expand_remote(attr.into(), &func) {
        Ok(registration) => quote!(#func #registration).into(),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#func #e).into()
        }
    }
}

fn expand_remote(attr: Tokens, func: &syn::ItemFn) -> syn::Result<Tokens> {
    let mut krate = quote!(::oxidask::graph);
    if !attr.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                let path: syn::Path = lit.parse()?;
                krate = quote!(#path);
                Ok(())
            } else {
                Err(meta.error("expected `crate = \"path\"`"))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
    }
    let sig = &func.sig;
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new_spanned(
            a,
            "#[remote] cannot register an async fn: register a plain function",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "#[remote] cannot register a generic function: a registry entry names one \
             concrete function; wrap it in a plain function per type",
        ));
    }
    let ident = &sig.ident;
    let mut takes = Vec::new();
    let mut names = Vec::new();
    let mut lists = Vec::new();
    let mut args: Vec<(&syn::Type, bool)> = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        let ty = match input {
            syn::FnArg::Receiver(r) => {
                return Err(syn::Error::new_spanned(
                    r,
                    "#[remote] cannot register a method: register a free function",
                ));
            }
            syn::FnArg::Typed(t) => &t.ty,
        };
        // A reference argument (`fn keep(x: &T) -> bool`, a filter) takes
        // the task value as a `T` and lends it.
        let (ty, lend) = match &**ty {
            syn::Type::Reference(r) if r.mutability.is_none() => (&*r.elem, true),
            syn::Type::Reference(r) => {
                return Err(syn::Error::new_spanned(
                    r,
                    "#[remote] functions take owned or shared-reference arguments, not `&mut`",
                ));
            }
            ty => (ty, false),
        };
        if let Some(elem) = vec_element(ty) {
            lists.push(quote! {
                #krate::inventory::submit! {
                    #krate::remote::ListOf {
                        type_name: ::std::any::type_name::<#elem>,
                        type_id: ::std::any::TypeId::of::<#elem>,
                        gather: #krate::remote::gather::<#elem>,
                    }
                }
            });
        }
        let name = format_ident!("a{}", i);
        takes.push(quote! {
            let #name = #krate::remote::take_arg::<#ty>(it.next(), #i, NAME)?;
        });
        names.push(if lend { quote!(&#name) } else { quote!(#name) });
        args.push((ty, lend));
    }
    let returns_result = match &sig.output {
        syn::ReturnType::Type(_, ty) => match &**ty {
            syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        syn::ReturnType::Default => false,
    };
    let wrap = if returns_result {
        quote!(#ident(#(#names),*)
            .map_err(::core::convert::Into::<#krate::OpError>::into)
            .and_then(|r| (&#krate::remote::Wrap::new(r)).wrap_value()))
    } else {
        quote!((&#krate::remote::Wrap::new(#ident(#(#names),*))).wrap_value())
    };
    let nargs = names.len();
    let per_record = per_record(&krate, ident, &args, &sig.output);
    Ok(quote! {
        const _: () = {
            const NAME: &str = ::core::stringify!(#ident);
            #krate::inventory::submit! {
                #krate::remote::RemoteFn {
                    name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                    type_id: || #krate::remote::type_id_of(&#ident),
                    call: |args: ::std::vec::Vec<#krate::Value>| {
                        if args.len() != #nargs {
                            return ::core::result::Result::Err(::std::format!(
                                "{} takes {} arguments, the task has {}",
                                NAME, #nargs, args.len()
                            ).into());
                        }
                        #[allow(unused_imports)]
                        use #krate::remote::{WrapAny as _, WrapSized as _};
                        #[allow(unused_mut, unused_variables)]
                        let mut it = args.into_iter();
                        #(#takes)*
                        #wrap
                    },
                    per_record: #per_record,
                }
            }
            #(#lists)*
        };
    })
}

/// The record-wise forms (`graph::remote::PerRecord`) of a function of one
/// argument, each instantiated for the function's own types: `map` for
/// `fn(A) -> R`, `filter` for `fn(&A) -> bool`, `flat_map` for
/// `fn(A) -> Vec<U>`, `partition` for `fn(Vec<A>) -> Vec<U>`.
fn per_record(
    krate: &Tokens,
    ident: &syn::Ident,
    args: &[(&syn::Type, bool)],
    output: &syn::ReturnType,
) -> Tokens {
    let [(arg, lend)] = args else {
        return quote!(::core::option::Option::None);
    };
    let ret: syn::Type = match output {
        syn::ReturnType::Type(_, ty) => (**ty).clone(),
        syn::ReturnType::Default => syn::parse_quote!(()),
    };
    let none = quote!(::core::option::Option::None);
    let stage =
        |f: Tokens| quote!(::core::option::Option::Some(|p| #krate::push::#f(p, NAME, #ident)));
    let is_bool = matches!(&ret, syn::Type::Path(p) if p.path.is_ident("bool"));
    let (map, filter, flat_map, partition) = if *lend {
        let filter = if is_bool {
            stage(quote!(filter_stage::<#arg>))
        } else {
            none.clone()
        };
        (none.clone(), filter, none.clone(), none)
    } else {
        let out_elem = vec_element(&ret);
        let flat_map = match out_elem {
            Some(u) => stage(quote!(flat_map_stage::<#arg, #u>)),
            None => none.clone(),
        };
        let partition = match (vec_element(arg), out_elem) {
            (Some(a), Some(u)) => stage(quote!(partition_stage::<#a, #u>)),
            _ => none.clone(),
        };
        (
            stage(quote!(map_stage::<#arg, #ret>)),
            none,
            flat_map,
            partition,
        )
    };
    let pointer = if *lend {
        quote!(#ident as fn(&#arg) -> #ret)
    } else {
        quote!(#ident as fn(#arg) -> #ret)
    };
    quote! {
        ::core::option::Option::Some(#krate::remote::PerRecord {
            map: #map,
            filter: #filter,
            flat_map: #flat_map,
            partition: #partition,
            pointer: || ::std::boxed::Box::new(#pointer),
        })
    }
}

/// `T` when `ty` is written `Vec<T>`.
fn vec_element(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}
