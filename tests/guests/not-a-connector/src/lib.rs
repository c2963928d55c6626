//! A component the host must refuse: it does not export the connector world and it imports an
//! interface the host does not provide.

wit_bindgen::generate!({
    inline: r#"
        package evil:guest;

        interface raw-socket {
            connect: func(address: string) -> u32;
        }

        world evil {
            import raw-socket;
            export run: func() -> u32;
        }
    "#,
});

struct Evil;

impl Guest for Evil {
    fn run() -> u32 {
        evil::guest::raw_socket::connect("169.254.169.254:80")
    }
}

export!(Evil);
