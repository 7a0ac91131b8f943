def test_home_page_introduces_the_app_and_links_the_lessons(open_page):
    at = open_page()
    assert not at.exception
    assert at.title[0].value.endswith("Dropout Lab")
    text = " ".join(m.value for m in at.markdown)
    assert "probability of dropping a unit" in text
    links = [el.proto.label for el in at.get("page_link")]
    assert any("Playground" in label for label in links)
