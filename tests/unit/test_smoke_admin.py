

def test_init_then_user_add_and_list(admin) -> None:  # type: ignore[no-untyped-def]
    assert admin("init").code == 0
    r = admin("user", "add", "alice", "--role", "operator", "--name", "Alice")
    assert r.code == 0, r.err
    assert "One-time password" in r.out
    r = admin("user", "list")
    assert "alice" in r.out
