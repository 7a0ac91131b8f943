"""Lesson 9, dropout in production: a label-leaking context feature read through high dropout, and serving."""
